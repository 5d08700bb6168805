"""``s2vec train`` (train the masked autoencoder) and ``s2vec embed`` (cell embeddings)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from s2vec_geo.cli.features import add_dask_options
from s2vec_geo.embedding import EMBED_MODES, embed
from s2vec_geo.images.sampler import WINDOW_MODES
from s2vec_geo.io import layer_format, read_cell_layer, write_layer
from s2vec_geo.model import MODEL_NAME, load_model
from s2vec_geo.plots import plot_embedding_pca
from s2vec_geo.seams import log_seams
from s2vec_geo.training import TrainConfig, resolve_device, train

log = logging.getLogger(__name__)

_DEFAULTS = TrainConfig()
# CLI option -> MAEConfig field (architecture overrides, paper defaults otherwise).
_ARCH_OPTIONS = {
    "embed_dim": ("--embed-dim", int, "encoder width = embedding size (default 256)"),
    "depth": ("--depth", int, "encoder blocks (default 6)"),
    "num_heads": ("--heads", int, "attention heads (default 8)"),
    "decoder_dim": ("--decoder-dim", int, "decoder width (default 128)"),
    "decoder_depth": ("--decoder-depth", int, "decoder blocks (default 2)"),
    "dropout": ("--dropout", float, "dropout (default 0.2)"),
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` and ``embed`` sub-commands."""
    t = sub.add_parser(
        "train",
        help="train the S2Vec masked autoencoder on an image dataset",
        description=(
            "Train the masked autoencoder (defaults: S2Vec paper Table 1) on images built by "
            "`s2vec images`. The output folder receives checkpoint.pt every epoch, "
            "history.json, and at the end model.pt and loss_curve.png. Under torchrun the "
            "run is data-parallel: torchrun --nproc_per_node N -m s2vec_geo train ..."
        ),
    )
    t.add_argument(
        "images",
        nargs="+",
        help="image dataset folder(s) written by `s2vec images`; several folders (e.g. one "
        "per area) train one model, normalized over all of them",
    )
    t.add_argument("--output", "-o", required=True, help="run folder (model.pt goes there)")
    add_train_options(t)
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue from the output folder's checkpoint.pt (same settings required)",
    )
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in a folder holding an earlier run (or a model.pt no run there "
        "wrote); its files are replaced",
    )
    t.set_defaults(func=run_train)

    e = sub.add_parser(
        "embed",
        help="embed featurized cells with a trained model",
        description=(
            "Write one row per cell with emb_000... columns (or one per image-level parent "
            "with --images) to a GeoPackage or GeoParquet, optionally with a PNG map of the "
            "first three principal components as RGB."
        ),
    )
    e.add_argument(
        "cells",
        help="cell layer (.gpkg/.parquet) written by `s2vec featurize`, or (with --workers or "
        "--scheduler) a folder of cell partitions written by `s2vec featurize --workers N`",
    )
    e.add_argument("--model", "-m", required=True, help="model.pt, or the run folder holding it")
    e.add_argument("--output", "-o", required=True, help="output .gpkg or .parquet")
    e.add_argument(
        "--mode",
        choices=EMBED_MODES,
        default="contextual",
        help="contextual: encoder output of the whole image (default); patch: the paper's "
        "linear patch embedding of the cell alone",
    )
    add_window_options(e)
    e.add_argument("--images", action="store_true", help="image-level (pooled) embeddings")
    e.add_argument("--png", help="also write a PCA-RGB map of the embeddings to this PNG")
    e.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    e.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    add_dask_options(e)
    e.set_defaults(func=run_embed)


def add_window_options(p: argparse.ArgumentParser, training: bool = False) -> None:
    """Add ``--windows`` (and, for embedding, ``--stride``)."""
    p.add_argument(
        "--windows",
        choices=WINDOW_MODES,
        default="sliding" if training else None,
        help="sliding: windows at any offset, random in training, overlapping and blended "
        "when embedding, so image borders leave no seam (default); aligned: the paper's "
        "fixed images" + ("" if training else " (default: the windows the model was trained with)"),
    )
    if not training:
        p.add_argument(
            "--stride",
            type=int,
            help="step of sliding windows in cells when embedding (default: half the image "
            "side); cost grows with (side / stride)^2",
        )


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Add the training options shared by ``s2vec train`` and ``s2vec run``."""
    p.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help="default 50")
    p.add_argument(
        "--batch-size",
        type=int,
        default=_DEFAULTS.batch_size,
        help="windows per step (default: 64 on the CPU, 1024 on a GPU with the learning rate "
        "scaled linearly)",
    )
    p.add_argument(
        "--lr", type=float, default=_DEFAULTS.lr, help="peak learning rate at batch 64 (5e-4)"
    )
    p.add_argument(
        "--warmup-epochs",
        type=int,
        default=_DEFAULTS.warmup_epochs,
        help="linear warm-up epochs (default: none at batch 64, 5 with a larger automatic batch)",
    )
    p.add_argument("--mask-ratio", type=float, default=_DEFAULTS.mask_ratio, help="default 0.75")
    p.add_argument("--val-fraction", type=float, default=_DEFAULTS.val_fraction)
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    add_window_options(p, training=True)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    p.add_argument(
        "--compile", action="store_true", help="run the network through torch.compile (GPU)"
    )
    for dest, (flag, kind, text) in _ARCH_OPTIONS.items():
        p.add_argument(flag, dest=dest, type=kind, help=text)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` described by parsed :func:`add_train_options` options."""
    arch = {k: getattr(args, k) for k in _ARCH_OPTIONS if getattr(args, k) is not None}
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_epochs=args.warmup_epochs,
        mask_ratio=args.mask_ratio,
        val_fraction=args.val_fraction,
        seed=args.seed,
        windows=args.windows,
        device=args.device,
        num_workers=args.num_workers,
        compile=args.compile,
        model=arch,
    )


def run_train(args: argparse.Namespace) -> None:
    """Train and report where the model went."""
    config = train_config(args)
    model = train(
        args.images, config, out=args.output, resume=args.resume, overwrite=args.overwrite
    )
    last = model.history[-1]
    log.info(
        "trained %s; last epoch: %s; model written to %s",
        model,
        ", ".join(f"{k} {v:.4g}" for k, v in last.items()),
        Path(args.output) / MODEL_NAME,
    )


def run_embed(args: argparse.Namespace) -> None:
    """Embed a cell layer and write it (and optionally the PCA map)."""
    if args.workers is not None or args.scheduler is not None:
        from s2vec_geo.distributed import embed_distributed

        out = embed_distributed(
            args.cells,
            args.model,
            args.output,
            mode=args.mode,
            images=args.images,
            batch_size=args.batch_size,
            windows=args.windows,
            stride=args.stride,
            workers=args.workers,
            scheduler=args.scheduler,
        )
        log.info("wrote embedding partitions to %s", out)
        return
    layer_format(args.output)  # fail on a bad extension before any work
    model = load_model(args.model, device=resolve_device(args.device))
    emb = embed(
        read_cell_layer(args.cells),
        model,
        mode=args.mode,
        images=args.images,
        batch_size=args.batch_size,
        windows=args.windows,
        stride=args.stride,
    )
    write_layer(emb, args.output)
    log.info("wrote %d embeddings of size %d to %s", len(emb), model.embed_dim, args.output)
    if not args.images:
        log_seams(emb, model.image_level)
    if args.png:
        plot_embedding_pca(emb, args.png)
        log.info("wrote the PCA map to %s", args.png)
