"""``s2vec run``: the whole pipeline, from a features source to an embedding layer."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.cli import add_max_cells_option
from s2vec_geo.cli.features import add_reading_options, reading_options
from s2vec_geo.cli.images import add_min_support_option
from s2vec_geo.cli.model import add_train_options, train_config
from s2vec_geo.embedding import EMBED_MODES
from s2vec_geo.pipeline import run_pipeline

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    p = sub.add_parser(
        "run",
        help="whole pipeline: features -> cells -> images -> model -> embedding layer",
        description=(
            "Featurize SOURCE at --level, build --image-level images, train the masked "
            "autoencoder and embed every cell (several SOURCEs: one model over all of them). "
            "Writes OUTPUT (embedding layer), a PCA-RGB map "
            "beside it (.png) and keeps the intermediate products (cells.gpkg, images/, "
            "model/ with model.pt and loss_curve.png) in the work folder, with run.json "
            "recording the sources, settings and finished stages. A work folder holding a "
            "run is continued with --resume (same sources and settings) or replaced with "
            "--overwrite; without either the run stops before touching anything."
        ),
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="input: .osm.pbf, .osm, GeoPackage, shapefile, GeoJSON, ...; several sources "
        "(e.g. one extract per city) train one model over all areas and are embedded into "
        "one layer",
    )
    p.add_argument("--level", type=int, default=12, help="patch S2 level (paper: 12)")
    p.add_argument("--image-level", type=int, default=8, help="image S2 level (paper: 8)")
    add_reading_options(p)
    add_min_support_option(p)
    p.add_argument(
        "--mode", choices=EMBED_MODES, default="contextual", help="embedding mode (see embed)"
    )
    p.add_argument("--work-dir", help="folder for intermediate products (default: OUTPUT_work)")
    p.add_argument("--output", "-o", required=True, help="embedding layer (.gpkg or .parquet)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted (or reuse the finished) run in the work folder; its "
        "sources and settings must be unchanged",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in a work folder holding a run (or files no run wrote there), "
        "replacing cells.gpkg, images/ and model/; other files are kept",
    )
    add_max_cells_option(p)
    add_train_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run the pipeline and say where everything went."""
    result = run_pipeline(
        args.sources,
        args.output,
        level=args.level,
        image_level=args.image_level,
        aoi=args.aoi,
        config=train_config(args),
        mode=args.mode,
        work_dir=args.work_dir,
        min_support=args.min_support,
        featurize_options=reading_options(args),
        resume=args.resume,
        overwrite=args.overwrite,
        max_cells=args.max_cells,
    )
    log.info(
        "embeddings: %s; PCA map: %s; loss curve: %s; model: %s",
        result.embeddings,
        result.pca_map,
        result.loss_curve,
        result.model,
    )
