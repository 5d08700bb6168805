"""``s2vec join``: attach cell embeddings to any points, lines or polygons."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.cli.cells import INPUT
from s2vec_geo.cli.options import OUTPUT_LAYER, Argument, Command
from s2vec_geo.core import options as o

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> None:
    """Join ``args.embeddings`` to ``args.input`` and write the result."""
    from s2vec_geo.core.schema import COVERAGE, N_CELLS, embedding_columns
    from s2vec_geo.embeddings.join import join_embeddings
    from s2vec_geo.io.layers import layer_format, read_cell_layer, read_layer, write_layer
    from s2vec_geo.io.outputs import check_output

    layer_format(check_output(args.output, [args.input, args.embeddings]))  # before the work
    layer = read_layer(args.input, layer=args.layer, keep_missing=True)
    out = join_embeddings(layer, read_cell_layer(args.embeddings), max_cells=args.max_cells)
    write_layer(out, args.output)
    log.info(
        "joined %d-dimensional embeddings to %d features (%d touch no embedded cell, %d lie "
        "less than half inside embedded cells: see the coverage column)",
        len(embedding_columns(out)),
        len(out),
        int((out[N_CELLS] == 0).sum()),
        int(((out[COVERAGE] > 0) & (out[COVERAGE] < 0.5)).sum()),
    )


COMMAND = Command(
    "join",
    help="join cell embeddings to a layer of points, lines or polygons",
    description="Points take the embedding of their cell; polygons the mean over covering cells "
    "weighted by intersection area (equal-area projection); lines by length. The output is the "
    "input layer with emb_... columns, n_cells and coverage (the share of each feature's area, "
    "length or points inside embedded cells) added.",
    run=run,
    arguments=(
        INPUT,
        Argument("--embeddings", "-e", required=True, help="embedding layer from `s2vec embed`"),
        OUTPUT_LAYER,
    ),
    options=(o.LAYER, o.MAX_CELLS),
)
