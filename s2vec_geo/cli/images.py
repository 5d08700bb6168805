"""``s2vec images``: featurized cells rasterized into images of their parent cells."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.cli.options import Argument, Command
from s2vec_geo.core import options as o

log = logging.getLogger(__name__)

CELLS = Argument("cells", help="cell layer (.gpkg/.parquet) written by `s2vec featurize`")


def parents(tokens: list[str] | None) -> list[str] | None:
    """The parent tokens to export; ``None`` for ``all``.

    Examples
    --------
    >>> parents(["all"]), parents(["89c25"])
    (None, ['89c25'])
    """
    return None if tokens in (None, ["all"]) else tokens


def run(args: argparse.Namespace) -> None:
    """Build the images; optionally export GeoTIFFs."""
    from s2vec_geo.images import build_images

    if args.geotiff and not args.geotiff_out:
        raise ValueError("--geotiff needs --geotiff-out (a .tif file or a folder)")
    ds = build_images(
        args.cells,
        image_level=args.image_level,
        out=args.output,
        log1p=args.log1p,
        shard_size=args.shard_size,
        overwrite=args.overwrite,
        replace_earlier=False,
        min_support=args.min_support,
        max_cells=args.max_cells,
    )
    log.info("wrote %d images of %dx%d to %s", len(ds), ds.grid, ds.grid, args.output)
    if args.geotiff:
        from s2vec_geo.images import export_geotiff

        files = export_geotiff(ds, args.geotiff_out, parents=parents(args.geotiff))
        log.info("wrote %d GeoTIFF(s) to %s", len(files), args.geotiff_out)


COMMAND = Command(
    "images",
    help="rasterize featurized cells into images of their parent cells",
    description="Place every patch cell of a featurized cell layer at its true S2 position "
    "inside its parent at --image-level, and write the images as memory-mapped shards with "
    "global normalization statistics (meta.json).",
    run=run,
    arguments=(
        CELLS,
        Argument("--output", "-o", required=True, help="folder for the image dataset"),
        Argument("--geotiff-out", help="GeoTIFF file (one parent) or folder (several)"),
    ),
    options=(
        o.LEVELS,
        o.IMAGE_LEVEL,
        o.LOG1P,
        o.MIN_SUPPORT,
        o.SHARD_SIZE,
        o.OVERWRITE.with_help("replace the image dataset there (its files; others are kept)"),
        o.MAX_CELLS,
        o.MEMORY_BUDGET,
        o.GEOTIFF,
    ),
)
