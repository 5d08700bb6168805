"""``s2vec cells`` and ``s2vec cover``: S2 cell ids of points, cell layers of areas."""

from __future__ import annotations

import argparse
import logging

import geopandas as gpd

from s2vec_geo.cli import add_max_cells_option
from s2vec_geo.io import layer_format, read_layer, write_layer
from s2vec_geo.s2 import cell_to_token, cells_frame, cover, point_cells

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``cells`` and ``cover`` sub-commands."""
    p = sub.add_parser(
        "cells",
        help="add the S2 cell of every point (cell_id, token columns)",
        description=(
            "Read a point layer (any CRS) and write it unchanged plus the int64 cell_id "
            "and token of the S2 cell at --level containing each point."
        ),
    )
    _add_common(p)
    p.set_defaults(func=run_cells)
    p = sub.add_parser(
        "cover",
        help="write the S2 cells covering a layer's geometries",
        description=(
            "Read a layer (polygons, lines or points, any CRS) and write one row per S2 "
            "cell at --level that the geometries touch: int64 cell_id, token, the cell "
            "polygon (EPSG:4326)."
        ),
    )
    _add_common(p)
    add_max_cells_option(p)
    p.set_defaults(func=run_cover)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="input vector file (GeoPackage, GeoParquet, shapefile, ...)")
    p.add_argument("--level", type=int, required=True, help="S2 cell level 0-30")
    p.add_argument("--layer", help="layer of a multi-layer input")
    p.add_argument("--output", "-o", required=True, help="output .gpkg or .parquet")


def _read(args: argparse.Namespace) -> gpd.GeoDataFrame:
    layer_format(args.output)  # fail on a bad extension before the work
    return read_layer(args.input, layer=args.layer)


def run_cells(args: argparse.Namespace) -> None:
    """Write ``args.input`` with ``cell_id`` and ``token`` columns to ``args.output``."""
    points = _read(args)
    cells = point_cells(points, args.level)
    out = points.assign(cell_id=cells, token=cell_to_token(cells.to_numpy()))
    write_layer(out, args.output)
    log.info("wrote %d points with level-%d cells to %s", len(out), args.level, args.output)


def run_cover(args: argparse.Namespace) -> None:
    """Write the level-``args.level`` covering of ``args.input`` to ``args.output``."""
    frame = cells_frame(cover(_read(args), args.level, max_cells=args.max_cells))
    write_layer(frame, args.output)
    log.info("wrote %d level-%d cells to %s", len(frame), args.level, args.output)
