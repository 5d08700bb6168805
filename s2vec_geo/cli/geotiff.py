"""``s2vec geotiff``: images of an image dataset exported as georeferenced GeoTIFFs."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.cli.images import parents
from s2vec_geo.cli.options import Argument, Command
from s2vec_geo.core import options as o

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    """Export GeoTIFFs from an existing image dataset."""
    from s2vec_geo.images import ImageDataset, export_geotiff

    files = export_geotiff(
        ImageDataset.open(args.dataset),
        args.output,
        parents=parents(args.parents),
        features=args.features,
        normalized=args.normalized,
    )
    log.info("wrote %d GeoTIFF(s) to %s", len(files), args.output)


COMMAND = Command(
    "geotiff",
    help="export images of an image dataset as georeferenced GeoTIFFs",
    description="Write images as GeoTIFFs in the gnomonic projection of their S2 cube face, one "
    "band per feature, NaN where no cell: one file, or one <token>.tif per image in a folder.",
    run=run,
    arguments=(
        Argument("dataset", help="image dataset folder written by `s2vec images`"),
        Argument("--output", "-o", required=True, help=".tif file or folder"),
    ),
    options=(o.PARENTS, o.FEATURES, o.NORMALIZED),
)
