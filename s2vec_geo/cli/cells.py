"""``s2vec cells``: the S2 cell of every point of a layer."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.cli.options import OUTPUT_LAYER, Argument, Command
from s2vec_geo.core import options as o

log = logging.getLogger(__name__)

INPUT = Argument("input", help="input vector file (GeoPackage, GeoParquet, shapefile, ...)")


def run(args: argparse.Namespace) -> None:
    """Write ``args.input`` with ``cell_id`` and ``token`` columns to ``args.output``."""
    from s2vec_geo.core.schema import CELL_ID, TOKEN
    from s2vec_geo.io.layers import layer_format, read_layer, write_layer
    from s2vec_geo.io.outputs import check_output
    from s2vec_geo.s2 import cell_to_token, point_cells

    layer_format(check_output(args.output, [args.input]))  # before the work
    points = read_layer(args.input, layer=args.layer)
    cells = point_cells(points, args.level)
    out = points.assign(**{CELL_ID: cells, TOKEN: cell_to_token(cells.to_numpy())})
    write_layer(out, args.output)
    log.info("wrote %d points with level-%d cells to %s", len(out), args.level, args.output)


COMMAND = Command(
    "cells",
    help="add the S2 cell of every point (cell_id, token columns)",
    description="Read a point layer (any CRS) and write it unchanged plus the int64 cell_id "
    "and token of the S2 cell at --level containing each point.",
    run=run,
    arguments=(INPUT, OUTPUT_LAYER),
    options=(o.LEVELS, o.LEVEL, o.LAYER),
)
