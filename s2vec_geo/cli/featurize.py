"""``s2vec featurize``: vector sources in, a per-cell feature layer out (on Dask if asked)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from s2vec_geo.cli.options import Argument, Command, values
from s2vec_geo.core import options as o

log = logging.getLogger(__name__)

READING = (
    o.AOI,
    o.LAYER,
    o.CATEGORY_COLUMN,
    o.POLYGONS,
    o.TAXONOMY,
    o.MAX_CELLS_PER_POLYGON,
    o.BBOX,
)
"""How features are read and classified (shared with ``s2vec run``)."""
DASK = (o.WORKERS, o.SCHEDULER)
"""Where Dask runs (shared with ``s2vec embed``)."""


def sources_argument(several: str) -> Argument:
    """The ``SOURCE`` arguments; ``several`` says what several sources do."""
    return Argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="input: .osm.pbf, .osm, QuackOSM GeoParquet (a file or a folder: one Dask task a "
        f"file), GeoPackage, shapefile, GeoJSON, ...; several sources {several}",
    )


def reading_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`~s2vec_geo.featurize` from the :data:`READING` options."""
    kw = values(args, READING)
    del kw[o.AOI.name]  # featurize's own argument, not a reading option
    kw["bbox"] = tuple(args.bbox) if args.bbox else None
    kw["max_cells_per_polygon"] = args.max_cells_per_polygon or None
    return kw


def on_dask(args: argparse.Namespace, n_sources: int = 1) -> bool:
    """Whether the command runs on Dask: several sources, ``--workers`` or ``--scheduler``."""
    return n_sources > 1 or args.workers is not None or args.scheduler is not None


def run(args: argparse.Namespace) -> None:
    """Featurize ``args.sources`` and write the cell layer (or partitions) to ``args.output``."""
    from s2vec_geo.io.layers import LAYER_SUFFIXES, layer_format, write_layer
    from s2vec_geo.io.outputs import check_output

    check_output(args.output, [*args.sources, args.aoi])  # before the work
    if not on_dask(args, len(args.sources)):
        from s2vec_geo.features.featurize import featurize

        layer_format(args.output)  # fail on a bad extension before the work
        cells = featurize(
            args.sources[0],
            level=args.level,
            aoi=args.aoi,
            max_cells=args.max_cells,
            **reading_options(args),
        )
    else:
        folder = Path(args.output).suffix.lower() not in LAYER_SUFFIXES
        cells = _on_dask(args, folder)
        if folder:
            log.info("wrote cell partitions to %s", args.output)
            return
    write_layer(cells, args.output)
    log.info("wrote %d cells x %d columns to %s", len(cells), cells.shape[1] - 2, args.output)


def _on_dask(args: argparse.Namespace, folder: bool) -> Any:
    from s2vec_geo.distributed import featurize_distributed

    if args.aoi is not None:
        raise ValueError(
            "--aoi is not supported on Dask (several sources, --workers or --scheduler); "
            "featurize, then clip the cells to the area"
        )
    if args.max_cells != o.MAX_CELLS.default or args.memory_budget is not None:
        log.warning(
            "--max-cells and --memory-budget do not reach Dask: each input is held to the defaults"
        )
    return featurize_distributed(
        args.sources,
        level=args.level,
        out=args.output if folder else None,
        scratch=None if folder else Path(args.output).absolute().parent,
        **values(args, DASK),
        **reading_options(args),
    )


COMMAND = Command(
    "featurize",
    help="count POIs, roads, road nodes (v2: buildings, land use) per S2 cell",
    description="Read an OSM file (.osm.pbf/.osm), a QuackOSM GeoParquet file or folder, or any "
    "OGR vector source, classify its features with the taxonomy (or a category column) and "
    "write one row per S2 cell: int64 cell_id, token, one column per feature, the cell "
    "polygon. --taxonomy v2 adds building footprints (count, footprint and floor area per "
    "class) and land-use areas, cut exactly at cell edges.",
    run=run,
    arguments=(
        sources_argument("(e.g. per-region extracts) are summed cell by cell on Dask"),
        Argument(
            "--output",
            "-o",
            required=True,
            help="output .gpkg or .parquet; on Dask, a name without these extensions is a new "
            "folder of GeoParquet partitions (read by `s2vec embed --workers` and "
            "s2vec_geo.build_images_distributed)",
        ),
    ),
    options=(o.LEVELS, o.LEVEL, *READING, *DASK, o.MAX_CELLS, o.MEMORY_BUDGET),
)
