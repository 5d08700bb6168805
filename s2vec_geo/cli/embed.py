"""``s2vec embed``: cell embeddings of a featurized layer with a trained model."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.cli.featurize import DASK, on_dask
from s2vec_geo.cli.options import OUTPUT_LAYER, Argument, Command, values
from s2vec_geo.core import options as o

log = logging.getLogger(__name__)

EMBEDDING = (o.MODE, o.EMBED_WINDOWS, o.STRIDE, o.IMAGES, o.EMBED_BATCH_SIZE)
"""The options of :func:`s2vec_geo.embed` a user sets."""


def run(args: argparse.Namespace) -> None:
    """Embed a cell layer and write it (and optionally the PCA map)."""
    if on_dask(args):
        from s2vec_geo.distributed import embed_distributed

        kw = {**values(args, EMBEDDING), **values(args, DASK)}
        out = embed_distributed(args.cells, args.model, args.output, **kw)
        log.info("wrote embedding partitions to %s", out)
        return
    from s2vec_geo.embeddings.embed import embed
    from s2vec_geo.embeddings.seams import log_seams
    from s2vec_geo.io.layers import layer_format, read_cell_layer, write_layer
    from s2vec_geo.io.outputs import check_output
    from s2vec_geo.model.file import load_model
    from s2vec_geo.model.training import resolve_device
    from s2vec_geo.viz.plots import plot_embedding_pca

    layer_format(check_output(args.output, [args.cells, args.model]))  # before any work
    if args.png:
        check_output(args.png, [args.cells, args.model])
    model = load_model(args.model, device=resolve_device(args.device))
    emb = embed(read_cell_layer(args.cells), model, **values(args, EMBEDDING))
    write_layer(emb, args.output)
    log.info("wrote %d embeddings of size %d to %s", len(emb), model.embed_dim, args.output)
    if not args.images:
        log_seams(emb, model.image_level)
    if args.png:
        plot_embedding_pca(emb, args.png)
        log.info("wrote the PCA map to %s", args.png)


COMMAND = Command(
    "embed",
    help="embed featurized cells with a trained model",
    description="Write one row per cell with emb_000... columns (or one per image-level parent "
    "with --images) to a GeoPackage or GeoParquet, optionally with a PNG map of the first three "
    "principal components as RGB.",
    run=run,
    arguments=(
        Argument(
            "cells",
            help="cell layer (.gpkg/.parquet) written by `s2vec featurize`, or (with --workers "
            "or --scheduler) a folder of cell partitions written by `s2vec featurize --workers N`",
        ),
        Argument("--model", "-m", required=True, help="model.pt, or the run folder holding it"),
        OUTPUT_LAYER,
        Argument("--png", help="also write a PCA-RGB map of the embeddings to this PNG"),
    ),
    options=(*EMBEDDING, o.DEVICE, *DASK),
)
