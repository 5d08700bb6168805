"""``s2vec images`` (build S2Vec images) and ``s2vec geotiff`` (export them)."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.cli import add_max_cells_option
from s2vec_geo.images import ImageDataset, build_images, export_geotiff

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``images`` and ``geotiff`` sub-commands."""
    p = sub.add_parser(
        "images",
        help="rasterize featurized cells into images of their parent cells",
        description=(
            "Place every patch cell of a featurized cell layer at its true S2 position "
            "inside its parent at --image-level, and write the images as memory-mapped "
            "shards with global normalization statistics (meta.json)."
        ),
    )
    p.add_argument("cells", help="cell layer (.gpkg/.parquet) written by `s2vec featurize`")
    p.add_argument("--image-level", type=int, default=8, help="S2 level of images (default 8)")
    p.add_argument("--output", "-o", required=True, help="folder for the image dataset")
    p.add_argument(
        "--log1p",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="normalize log1p(count) (default; counts are heavy-tailed) or raw values",
    )
    add_min_support_option(p)
    p.add_argument("--shard-size", type=int, default=1024, help="images per shard file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    add_max_cells_option(p)
    p.add_argument(
        "--geotiff",
        metavar="PARENT",
        nargs="+",
        help="also export these parent tokens (or 'all') as GeoTIFF to --geotiff-out",
    )
    p.add_argument("--geotiff-out", help="GeoTIFF file (one parent) or folder (several)")
    p.set_defaults(func=run_images)

    g = sub.add_parser(
        "geotiff",
        help="export images of an image dataset as georeferenced GeoTIFFs",
        description=(
            "Write images as GeoTIFFs in the gnomonic projection of their S2 cube face, "
            "one band per feature, NaN where no cell: one file, or one <token>.tif per "
            "image in a folder."
        ),
    )
    g.add_argument("dataset", help="image dataset folder written by `s2vec images`")
    g.add_argument("--parents", nargs="+", default=["all"], help="parent tokens, or 'all'")
    g.add_argument("--features", nargs="+", help="features to write as bands (default: all)")
    g.add_argument("--normalized", action="store_true", help="write normalized values")
    g.add_argument("--output", "-o", required=True, help=".tif file or folder")
    g.set_defaults(func=run_geotiff)


def add_min_support_option(p: argparse.ArgumentParser) -> None:
    """Add ``--min-support`` (shared with ``s2vec run``)."""
    p.add_argument(
        "--min-support",
        type=float,
        default=0.0,
        help="keep only features non-zero in at least this share of cells, e.g. 0.02 "
        "(default 0: all features, as the paper)",
    )


def _parents(tokens: list[str]) -> list[str] | None:
    return None if tokens == ["all"] else tokens


def run_images(args: argparse.Namespace) -> None:
    """Build the images; optionally export GeoTIFFs."""
    if args.geotiff and not args.geotiff_out:
        raise ValueError("--geotiff needs --geotiff-out (a .tif file or a folder)")
    ds = build_images(
        args.cells,
        image_level=args.image_level,
        out=args.output,
        log1p=args.log1p,
        shard_size=args.shard_size,
        overwrite=args.overwrite,
        min_support=args.min_support,
        max_cells=args.max_cells,
    )
    log.info("wrote %d images of %dx%d to %s", len(ds), ds.grid, ds.grid, args.output)
    if args.geotiff:
        files = export_geotiff(ds, args.geotiff_out, parents=_parents(args.geotiff))
        log.info("wrote %d GeoTIFF(s) to %s", len(files), args.geotiff_out)


def run_geotiff(args: argparse.Namespace) -> None:
    """Export GeoTIFFs from an existing image dataset."""
    ds = ImageDataset.open(args.dataset)
    files = export_geotiff(
        ds,
        args.output,
        parents=_parents(args.parents),
        features=args.features,
        normalized=args.normalized,
    )
    log.info("wrote %d GeoTIFF(s) to %s", len(files), args.output)
