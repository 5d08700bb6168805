"""``s2vec join``: attach cell embeddings to any points, lines or polygons."""

from __future__ import annotations

import argparse
import logging

from s2vec_geo.embedding import embed_geometries
from s2vec_geo.io import layer_format, read_cell_layer, read_layer, write_layer

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``join`` sub-command."""
    p = sub.add_parser(
        "join",
        help="join cell embeddings to a layer of points, lines or polygons",
        description=(
            "Points take the embedding of their cell; polygons the mean over covering cells "
            "weighted by intersection area (equal-area projection); lines by length. The "
            "output is the input layer with emb_... columns and n_cells added."
        ),
    )
    p.add_argument("layer", help="vector layer to enrich (any CRS)")
    p.add_argument("--embeddings", "-e", required=True, help="embedding layer from `s2vec embed`")
    p.add_argument("--input-layer", help="layer of a multi-layer input")
    p.add_argument("--output", "-o", required=True, help="output .gpkg or .parquet")
    p.set_defaults(func=run_join)


def run_join(args: argparse.Namespace) -> None:
    """Join ``args.embeddings`` to ``args.layer`` and write the result."""
    layer_format(args.output)  # fail on a bad extension before the work
    layer = read_layer(args.layer, layer=args.input_layer, keep_missing=True)
    table = read_cell_layer(args.embeddings)
    joined = embed_geometries(layer, table)
    out = layer.join(joined.drop(columns=joined.geometry.name))
    write_layer(out, args.output)
    log.info(
        "joined %d-dimensional embeddings to %d features (%d touch no embedded cell)",
        joined.filter(like="emb_").shape[1],
        len(out),
        int((joined["n_cells"] == 0).sum()),
    )
