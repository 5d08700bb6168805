"""``s2vec run``: the whole pipeline, from a features source to an embedding layer."""

from __future__ import annotations

import argparse
import json
import logging

from s2vec_geo.cli.featurize import READING, reading_options, sources_argument
from s2vec_geo.cli.options import OUTPUT_LAYER, Argument, Command, train_config
from s2vec_geo.cli.train import TRAIN_OPTIONS
from s2vec_geo.core import options as o

log = logging.getLogger(__name__)

NO_MODEL = "none"
"""``--model-out none``: the work folder's model is not kept (the caller removes it)."""


def run(args: argparse.Namespace) -> None:
    """Run the pipeline and say where everything went."""
    from s2vec_geo.model.heldout import training_gain
    from s2vec_geo.pipeline import run_pipeline

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
        model_out=False if args.model_out == NO_MODEL else args.model_out,
    )
    log.info(
        "embeddings: %s; PCA map: %s; loss curve: %s; model: %s",
        result.embeddings,
        result.pca_map,
        result.loss_curve,
        result.model,
    )
    history = result.loss_curve.with_name("history.json")
    records = json.loads(history.read_text()) if history.is_file() else []
    gain = training_gain(records[-1]) if records else None
    if gain:
        log.info("what training added: %s", gain)


COMMAND = Command(
    "run",
    help="whole pipeline: features -> cells -> images -> model -> embedding layer",
    description="Featurize SOURCE at --level, build --image-level images, train the masked "
    "autoencoder and embed every cell (several SOURCEs: one model over all of them). Writes "
    "OUTPUT (embedding layer), a PCA-RGB map beside it (.png) and keeps the intermediate "
    "products (cells.gpkg, images/, model/ with model.pt and loss_curve.png) in the work "
    "folder, with run.json recording the sources, settings and finished stages. A work folder "
    "holding a run is continued with --resume (same sources and settings) or replaced with "
    "--overwrite; without either the run stops before touching anything.",
    run=run,
    arguments=(
        sources_argument(
            "(e.g. one extract per city) train one model over all areas and are embedded into "
            "one layer"
        ),
        OUTPUT_LAYER,
        Argument("--work-dir", help="folder for intermediate products (default: OUTPUT_work)"),
        Argument(
            "--model-out",
            help="also keep the trained model at this .pt file; the layer's provenance names it "
            f"(`{NO_MODEL}`: you will delete the work folder, so it records that no model file "
            "was kept), with the model's SHA-256 either way",
        ),
    ),
    options=(
        o.LEVELS,
        o.LEVEL,
        o.IMAGE_LEVEL,
        *READING,
        o.MIN_SUPPORT,
        o.MODE,
        o.RESUME.with_help(
            "continue the interrupted (or reuse the finished) run in the work folder; its "
            "sources and settings must be unchanged"
        ),
        o.OVERWRITE.with_help(
            "start afresh in a work folder holding a run (or files no run wrote there), "
            "replacing cells.gpkg, images/ and model/; other files are kept"
        ),
        o.MAX_CELLS,
        o.MEMORY_BUDGET,
        *TRAIN_OPTIONS,
    ),
)
