"""``s2vec featurize``: vector sources in, a per-cell feature layer out (on Dask if asked)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from s2vec_geo.cell_areas import DEFAULT_MAX_CELLS_PER_POLYGON
from s2vec_geo.cli import add_max_cells_option
from s2vec_geo.features import featurize
from s2vec_geo.guards import DEFAULT_MAX_CELLS
from s2vec_geo.ingest import POLYGON_KINDS
from s2vec_geo.io import LAYER_SUFFIXES, layer_format, write_layer

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``featurize`` sub-command."""
    p = sub.add_parser(
        "featurize",
        help="count POIs, roads, road nodes (v2: buildings, land use) per S2 cell",
        description=(
            "Read an OSM file (.osm.pbf/.osm) or any OGR vector source, classify its "
            "features with the taxonomy (or a category column) and write one row per S2 "
            "cell: int64 cell_id, token, one column per feature, the cell polygon. "
            "--taxonomy v2 adds building footprints (count, footprint and floor area per "
            "class) and land-use areas, cut exactly at cell edges."
        ),
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="input: .osm.pbf, .osm, QuackOSM GeoParquet (a file or a folder: one Dask task "
        "a file), GeoPackage, shapefile, GeoJSON, ...; several sources (e.g. per-region "
        "extracts) are summed cell by cell on Dask",
    )
    p.add_argument("--level", type=int, default=12, help="S2 cell level (default 12)")
    add_reading_options(p)
    p.add_argument(
        "--output",
        "-o",
        required=True,
        help="output .gpkg or .parquet; on Dask, a name without these extensions is a new "
        "folder of GeoParquet partitions (read by `s2vec embed --workers` and "
        "s2vec_geo.build_images_distributed)",
    )
    add_dask_options(p)
    add_max_cells_option(p)
    p.set_defaults(func=run_featurize)


def add_reading_options(p: argparse.ArgumentParser) -> None:
    """Add the options of reading and classifying features (shared with ``s2vec run``)."""
    p.add_argument("--aoi", help="area of interest (vector file): every covering cell is written")
    p.add_argument("--layer", help="layer of a multi-layer input")
    p.add_argument("--category-column", help="column naming each feature's category (non-OSM)")
    p.add_argument(
        "--polygons",
        choices=POLYGON_KINDS,
        default="poi",
        help="with --category-column: what the layer's polygons are: points of interest "
        "(default), building footprints (the column names the building class) or land use",
    )
    p.add_argument(
        "--taxonomy",
        help="v1 (default: POIs, roads, road nodes), v2 (v1 plus buildings and land use) or "
        "a taxonomy JSON file",
    )
    p.add_argument(
        "--max-cells-per-polygon",
        type=int,
        default=DEFAULT_MAX_CELLS_PER_POLYGON,
        metavar="N",
        help="refuse a building or land-use polygon estimated to cover more than N cells "
        f"(default {DEFAULT_MAX_CELLS_PER_POLYGON:,}; 0: no limit)",
    )
    p.add_argument(
        "--bbox",
        type=float,
        nargs=4,
        metavar=("MIN_LNG", "MIN_LAT", "MAX_LNG", "MAX_LAT"),
        help="keep features inside this box (degrees)",
    )


def reading_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`~s2vec_geo.featurize` from :func:`add_reading_options`."""
    return {
        "taxonomy": args.taxonomy,
        "layer": args.layer,
        "bbox": tuple(args.bbox) if args.bbox else None,
        "category_column": args.category_column,
        "polygons": args.polygons,
        "max_cells_per_polygon": args.max_cells_per_polygon or None,
    }


def add_dask_options(p: argparse.ArgumentParser) -> None:
    """Add ``--workers`` and ``--scheduler`` (run on Dask)."""
    p.add_argument(
        "--workers", type=int, help="run on a local Dask cluster of N single-threaded processes"
    )
    p.add_argument("--scheduler", help="run on this Dask cluster (scheduler address host:8786)")


def _on_dask(args: argparse.Namespace, n_sources: int) -> bool:
    return n_sources > 1 or args.workers is not None or args.scheduler is not None


def run_featurize(args: argparse.Namespace) -> None:
    """Featurize ``args.sources`` and write the cell layer (or partitions) to ``args.output``."""
    kw = reading_options(args)
    if not _on_dask(args, len(args.sources)):
        layer_format(args.output)  # fail on a bad extension before the work
        cells = featurize(
            args.sources[0], level=args.level, aoi=args.aoi, max_cells=args.max_cells, **kw
        )
    else:
        from s2vec_geo.distributed import featurize_distributed

        if args.aoi is not None:
            raise ValueError(
                "--aoi is not supported on Dask (several sources, --workers or --scheduler); "
                "featurize, then clip the cells to the area"
            )
        if args.max_cells != DEFAULT_MAX_CELLS:
            log.warning("--max-cells does not reach Dask: each input is held to the default")
        folder = Path(args.output).suffix.lower() not in LAYER_SUFFIXES
        cells = featurize_distributed(
            args.sources,
            level=args.level,
            out=args.output if folder else None,
            scratch=None if folder else Path(args.output).absolute().parent,
            workers=args.workers,
            scheduler=args.scheduler,
            **kw,
        )
        if folder:
            log.info("wrote cell partitions to %s", args.output)
            return
    write_layer(cells, args.output)
    log.info("wrote %d cells x %d columns to %s", len(cells), cells.shape[1] - 2, args.output)
