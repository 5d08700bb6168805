"""Downstream evaluation of cell embeddings, following the S2Vec paper (section 5).

Labels are aligned to cells (:mod:`.labels`), models are a two-layer MLP head
over one or more fused embedding blocks (:mod:`.mlp`, :mod:`.fusion`), runs
use random or spatial hold-out splits (:mod:`.splits`), a Space2Vec-style
location encoding and external tables or GeoCLIP can be added
(:mod:`.location`, :mod:`.external`), :func:`evaluate` runs the whole
protocol (:mod:`.protocol`) and :mod:`.report` writes the results.
"""

from s2vec_geo.downstream.external import (
    embeddings_for_cells,
    geoclip_cell_embeddings,
    geoclip_embeddings,
    read_cell_table,
)
from s2vec_geo.downstream.fusion import make_fusion
from s2vec_geo.downstream.labels import align_labels, read_labels
from s2vec_geo.downstream.location import cell_location_encoding, location_encoding
from s2vec_geo.downstream.mlp import DEFAULT_GRID, MLPConfig, TrainSettings, fit, sweep
from s2vec_geo.downstream.protocol import EvaluationResult, Variant, default_variants, evaluate
from s2vec_geo.downstream.report import plot_results, results_markdown, write_report
from s2vec_geo.downstream.splits import Split, holdout_splits, random_splits, region_mask

__all__ = [
    "DEFAULT_GRID",
    "EvaluationResult",
    "MLPConfig",
    "Split",
    "TrainSettings",
    "Variant",
    "align_labels",
    "cell_location_encoding",
    "default_variants",
    "embeddings_for_cells",
    "evaluate",
    "fit",
    "geoclip_cell_embeddings",
    "geoclip_embeddings",
    "holdout_splits",
    "location_encoding",
    "make_fusion",
    "plot_results",
    "random_splits",
    "read_cell_table",
    "read_labels",
    "region_mask",
    "results_markdown",
    "sweep",
    "write_report",
]
