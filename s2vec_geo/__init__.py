"""s2vec-geo: S2Vec embeddings of the built environment on S2 cells.

The pipeline flows one way: ingest -> S2 cells -> features -> images ->
model -> embeddings -> evaluation; the folders of the package are those
stages (``docs/architecture.md`` has the module map). Importing the package
registers the ``GeoDataFrame.s2vec`` accessor (except when the ``s2vec``
command line starts: it uses none); the public names load from their modules
on first use (PEP 562), so ``import s2vec_geo`` stays fast (torch is imported
only when a model is touched). To add a public name, add it to
:data:`_PUBLIC`, under its module: that table is the one list of public names.
"""

from __future__ import annotations

import importlib
import itertools
import sys
from pathlib import Path
from typing import Any

from s2vec_geo.version import __version__

#: Module -> the public names it defines (space-separated), loaded on first access.
_PUBLIC: dict[str, str] = {
    "s2vec_geo.distributed": (
        "build_images_distributed embed_distributed featurize_distributed read_cell_partitions"
    ),
    "s2vec_geo.evaluation": (
        "Area AreasResult EvalConfig EvaluationResult align_labels evaluate evaluate_areas "
        "read_areas read_labels"
    ),
    "s2vec_geo.embeddings.embed": "embed",
    "s2vec_geo.embeddings.join": "embed_geometries join_embeddings",
    "s2vec_geo.embeddings.seams": "seam_ratio",
    "s2vec_geo.embeddings.transformer": "S2VecTransformer",
    "s2vec_geo.features.featurize": "featurize",
    "s2vec_geo.features.neighborhood": "multiscale_counts neighborhood_sums",
    "s2vec_geo.images": "ImageDataset NormStats build_images export_geotiff",
    "s2vec_geo.ingest": "read_features",
    "s2vec_geo.ingest.taxonomy.tags": "Taxonomy load_taxonomy",
    "s2vec_geo.io.layers": "read_cell_layer read_provenance write_layer",
    "s2vec_geo.model.file": "S2VecModel load_model",
    "s2vec_geo.model.mae": "MAEConfig",
    "s2vec_geo.model.training": "TrainConfig train",
    "s2vec_geo.viz.plots": "explore_embeddings plot_embeddings plot_history",
    "s2vec_geo.s2": (
        "cell_children cell_edge_neighbors cell_face_ij cell_level cell_parent cell_position "
        "cell_to_boundary cell_to_latlng cell_to_polygon cell_to_token cells_frame cover "
        "face_ij_to_cell latlng_to_cell point_cells token_to_cell validate_level"
    ),
    "s2vec_geo.core.schema": "embedding_columns feature_columns",
}
_MODULE_OF = {name: module for module, names in _PUBLIC.items() for name in names.split()}
__all__ = ["__version__", *sorted(_MODULE_OF)]


def _command_line_starting() -> bool:
    """Whether this process is the ``s2vec`` command line (or ``python -m s2vec_geo``)."""
    argv = sys.orig_argv
    as_module = sys.argv[:1] == ["-m"] and any(
        a == "-m" and b == __name__ for a, b in itertools.pairwise(argv)
    )
    return as_module or Path(sys.argv[0]).name in ("s2vec", "s2vec.exe")


# The command line uses no accessor: pandas (half a second) is not imported before
# a command runs, so ``s2vec --help`` and ``s2vec --version`` answer at once.
if _command_line_starting():
    from s2vec_geo.cli import quiet_interrupts

    quiet_interrupts()  # Ctrl-C while the libraries load: one line, no traceback
else:
    import s2vec_geo.accessor  # noqa: F401 - registers GeoDataFrame.s2vec


def __getattr__(name: str) -> Any:
    """Load a public function or class from its module on first access."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 's2vec_geo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names only (not this module's own imports)."""
    return list(__all__)
