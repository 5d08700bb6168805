"""s2vec-geo: S2Vec embeddings of the built environment on S2 cells.

The pipeline flows one way: ingest -> S2 cells -> features -> images ->
model -> embeddings -> outputs (``docs/architecture.md`` has the module map).
Importing the package registers the ``GeoDataFrame.s2vec`` accessor (except
when the ``s2vec`` command line starts: it uses none); the public names below
are imported for type checkers and IDEs only, and load from their modules on
first use, so ``import s2vec_geo`` stays fast (torch is imported only when
a model is touched). To add a public name, import it in
the ``TYPE_CHECKING`` block: that block is the one list of public names.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s2vec_geo.version import __version__


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
    import s2vec_geo.accessor

if TYPE_CHECKING:
    from s2vec_geo.core.schema import embedding_columns, feature_columns
    from s2vec_geo.distributed import (
        build_images_distributed,
        embed_distributed,
        featurize_distributed,
        read_cell_partitions,
    )
    from s2vec_geo.embeddings.embed import embed
    from s2vec_geo.embeddings.join import embed_geometries, join_embeddings
    from s2vec_geo.embeddings.seams import seam_ratio
    from s2vec_geo.evaluation import (
        Area,
        AreasResult,
        EvaluationResult,
        align_labels,
        evaluate,
        evaluate_areas,
        read_areas,
        read_labels,
    )
    from s2vec_geo.features.featurize import featurize
    from s2vec_geo.images import ImageDataset, build_images, export_geotiff
    from s2vec_geo.images.normalization import NormStats
    from s2vec_geo.ingest import read_features
    from s2vec_geo.ingest.taxonomy.tags import Taxonomy, load_taxonomy
    from s2vec_geo.io.layers import read_cell_layer, read_provenance, write_layer
    from s2vec_geo.model.file import S2VecModel, load_model
    from s2vec_geo.model.mae import MAEConfig
    from s2vec_geo.model.training import TrainConfig, train
    from s2vec_geo.s2 import (
        cell_children,
        cell_edge_neighbors,
        cell_face_ij,
        cell_level,
        cell_parent,
        cell_position,
        cell_to_boundary,
        cell_to_latlng,
        cell_to_polygon,
        cell_to_token,
        cells_frame,
        cover,
        face_ij_to_cell,
        latlng_to_cell,
        point_cells,
        token_to_cell,
        validate_level,
    )
    from s2vec_geo.viz.plots import explore_embeddings, plot_embeddings, plot_history


def _public_names() -> dict[str, str]:
    """Public name -> module, read from this file's ``TYPE_CHECKING`` imports (once)."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    return {
        alias.asname or alias.name: str(node.module)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


_PUBLIC = _public_names()
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
