"""s2vec-geo: S2Vec embeddings of the built environment on S2 cells.

The pipeline flows one way: ingest -> S2 cells -> features -> images ->
model -> embeddings -> outputs. Importing the package registers the
``GeoDataFrame.s2vec`` accessor; the public functions below load their
modules on first use, so ``import s2vec_geo`` stays fast (torch is imported
only when a model is touched). To add a public name, add it to ``_PUBLIC``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

if sys.argv[:1] == ["-m"] or sys.argv[0].endswith("s2vec"):  # the command line is starting
    from s2vec_geo.cli import quiet_interrupts

    quiet_interrupts()  # Ctrl-C while the libraries below load: one line, no traceback

import s2vec_geo.accessor  # noqa: F401  (registers GeoDataFrame.s2vec)

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC: dict[str, str] = {
    "Area": "s2vec_geo.downstream",
    "AreasResult": "s2vec_geo.downstream",
    "EvaluationResult": "s2vec_geo.downstream",
    "ImageDataset": "s2vec_geo.images",
    "MAEConfig": "s2vec_geo.model",
    "NormStats": "s2vec_geo.images",
    "S2VecModel": "s2vec_geo.model",
    "Taxonomy": "s2vec_geo.taxonomy",
    "TrainConfig": "s2vec_geo.training",
    "align_labels": "s2vec_geo.downstream",
    "build_images": "s2vec_geo.images",
    "build_images_distributed": "s2vec_geo.distributed",
    "cell_children": "s2vec_geo.s2",
    "cell_edge_neighbors": "s2vec_geo.s2",
    "cell_face_ij": "s2vec_geo.s2",
    "cell_level": "s2vec_geo.s2",
    "cell_parent": "s2vec_geo.s2",
    "cell_position": "s2vec_geo.s2",
    "cell_to_boundary": "s2vec_geo.s2",
    "cell_to_latlng": "s2vec_geo.s2",
    "cell_to_polygon": "s2vec_geo.s2",
    "cell_to_token": "s2vec_geo.s2",
    "cells_frame": "s2vec_geo.s2",
    "cover": "s2vec_geo.s2",
    "embed": "s2vec_geo.embedding",
    "embed_distributed": "s2vec_geo.distributed",
    "embed_geometries": "s2vec_geo.embedding",
    "evaluate": "s2vec_geo.downstream",
    "evaluate_areas": "s2vec_geo.downstream",
    "export_geotiff": "s2vec_geo.images",
    "feature_columns": "s2vec_geo.features",
    "featurize": "s2vec_geo.features",
    "face_ij_to_cell": "s2vec_geo.s2",
    "featurize_distributed": "s2vec_geo.distributed",
    "latlng_to_cell": "s2vec_geo.s2",
    "load_model": "s2vec_geo.model",
    "load_taxonomy": "s2vec_geo.taxonomy",
    "point_cells": "s2vec_geo.s2",
    "read_areas": "s2vec_geo.downstream",
    "read_labels": "s2vec_geo.downstream",
    "read_cells": "s2vec_geo.distributed",
    "read_features": "s2vec_geo.ingest",
    "token_to_cell": "s2vec_geo.s2",
    "train": "s2vec_geo.training",
    "validate_level": "s2vec_geo.s2",
    "write_layer": "s2vec_geo.io",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    """Load a public function or class from its module on first access."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 's2vec_geo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
