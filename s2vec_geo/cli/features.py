"""``s2vec featurize``: a vector source in, a per-cell feature layer out."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.features import featurize
from s2vec_geo.io import layer_format, write_layer

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``featurize`` sub-command."""
    p = sub.add_parser(
        "featurize",
        help="count POIs, roads and road nodes per S2 cell",
        description=(
            "Read an OSM file (.osm.pbf/.osm) or any OGR vector source, classify its "
            "features with the taxonomy (or a category column) and write one row per S2 "
            "cell: int64 cell_id, token, one column per feature, the cell polygon."
        ),
    )
    p.add_argument("source", help="input: .osm.pbf, .osm, GeoPackage, shapefile, GeoJSON, ...")
    p.add_argument("--level", type=int, default=12, help="S2 cell level (default 12)")
    p.add_argument("--aoi", help="area of interest (vector file): every covering cell is written")
    p.add_argument("--layer", help="layer of a multi-layer input")
    p.add_argument("--category-column", help="column naming each feature's category (non-OSM)")
    p.add_argument("--taxonomy", help="taxonomy JSON file (default: the bundled v1)")
    p.add_argument(
        "--bbox",
        type=float,
        nargs=4,
        metavar=("MIN_LNG", "MIN_LAT", "MAX_LNG", "MAX_LAT"),
        help="keep features inside this box (degrees)",
    )
    p.add_argument("--output", "-o", required=True, help="output .gpkg or .parquet")
    p.set_defaults(func=run_featurize)


def run_featurize(args: argparse.Namespace) -> None:
    """Featurize ``args.source`` and write the cell layer to ``args.output``."""
    layer_format(args.output)  # fail on a bad extension before the work
    cells = featurize(
        args.source,
        level=args.level,
        aoi=args.aoi,
        taxonomy=args.taxonomy,
        layer=args.layer,
        bbox=tuple(args.bbox) if args.bbox else None,
        category_column=args.category_column,
    )
    write_layer(cells, args.output)
    log.info("wrote %d cells x %d columns to %s", len(cells), cells.shape[1] - 2, args.output)
