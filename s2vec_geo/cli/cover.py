"""``s2vec cover``: the S2 cells covering a layer's geometries."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.cli.cells import INPUT
from s2vec_geo.cli.options import OUTPUT_LAYER, Command
from s2vec_geo.core import options as o

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    """Write the level-``args.level`` covering of ``args.input`` to ``args.output``."""
    from s2vec_geo.core.guards import LAYER_CELL_BYTES
    from s2vec_geo.io.layers import layer_format, read_layer, write_layer
    from s2vec_geo.io.outputs import check_output
    from s2vec_geo.s2 import cells_frame, cover

    layer_format(check_output(args.output, [args.input]))  # before the work
    area = read_layer(args.input, layer=args.layer)
    frame = cells_frame(
        cover(area, args.level, max_cells=args.max_cells, cell_bytes=LAYER_CELL_BYTES)
    )
    write_layer(frame, args.output)
    log.info("wrote %d level-%d cells to %s", len(frame), args.level, args.output)


COMMAND = Command(
    "cover",
    help="write the S2 cells covering a layer's geometries",
    description="Read a layer (polygons, lines or points, any CRS) and write one row per S2 "
    "cell at --level that the geometries touch: int64 cell_id, token, the cell polygon "
    "(EPSG:4326).",
    run=run,
    arguments=(INPUT, OUTPUT_LAYER),
    options=(o.LEVELS, o.LEVEL, o.LAYER, o.MAX_CELLS, o.MEMORY_BUDGET),
)
