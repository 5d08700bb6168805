"""``s2vec train``: train the S2Vec masked autoencoder on image datasets."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from s2vec_geo.cli.options import Argument, Command, train_config
from s2vec_geo.core import options as o

log = logging.getLogger(__name__)

TRAIN_OPTIONS = (*o.TRAINING, *o.ARCHITECTURE)
"""Training settings and the network's architecture (shared with ``s2vec run``)."""


def run(args: argparse.Namespace) -> None:
    """Train and report where the model went."""
    from s2vec_geo.model.file import MODEL_NAME
    from s2vec_geo.model.heldout import training_gain
    from s2vec_geo.model.training import train

    model = train(
        args.images,
        train_config(args),
        out=args.output,
        resume=args.resume,
        overwrite=args.overwrite,
        replace_earlier=False,
    )
    last = model.history[-1]
    log.info(
        "trained %s; last epoch: %s; model written to %s",
        model,
        ", ".join(f"{k} {v:.4g}" for k, v in last.items()),
        Path(args.output) / MODEL_NAME,
    )
    gain = training_gain(last)
    if gain:
        log.info("what training added: %s", gain)


COMMAND = Command(
    "train",
    help="train the S2Vec masked autoencoder on an image dataset",
    description="Train the masked autoencoder (defaults: S2Vec paper Table 1) on images built by "
    "`s2vec images`. The output folder receives checkpoint.pt every epoch, history.json, and at "
    "the end model.pt and loss_curve.png; the checkpoint is then deleted (--keep-checkpoint "
    "keeps it), as a finished run needs only model.pt. Under torchrun the run is "
    "data-parallel: torchrun --nproc_per_node N -m s2vec_geo train ...",
    run=run,
    arguments=(
        Argument(
            "images",
            nargs="+",
            help="image dataset folder(s) written by `s2vec images`; several folders (e.g. one "
            "per area) train one model, normalized over all of them",
        ),
        Argument("--output", "-o", required=True, help="run folder (model.pt goes there)"),
    ),
    options=(
        *TRAIN_OPTIONS,
        o.RESUME.with_help(
            "continue from the output folder's checkpoint.pt, or reuse the model.pt of a run "
            "finished there (same settings required)"
        ),
        o.OVERWRITE.with_help(
            "start afresh in a folder holding an earlier run (or a model.pt no run there "
            "wrote); its files are replaced"
        ),
        o.MEMORY_BUDGET,
    ),
)
