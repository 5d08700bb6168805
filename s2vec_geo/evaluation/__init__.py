"""Downstream evaluation of cell embeddings, following the S2Vec paper (section 5).

Labels are aligned to cells (:mod:`.labels`), optionally transformed to a
scale shared by several areas (:mod:`.targets`: density, log), models are a
two-layer MLP head over one or more fused embedding blocks (:mod:`.mlp`,
:mod:`.fusion`), runs use random, block, spatial hold-out or
leave-one-area-out splits (:mod:`.splits`), a Space2Vec-style location
encoding and external tables or GeoCLIP can be added (:mod:`.location`,
:mod:`.external`), :func:`evaluate` runs the whole protocol on one area
(:mod:`.protocol`), :func:`evaluate_areas` across areas (:mod:`.areas`:
leave-one-area-out transfer and per-area block splits), :mod:`.metrics`
scores the runs (R2, MAE, Spearman) and :mod:`.report` writes the results.
"""

from s2vec_geo.evaluation.areas import AreasResult, evaluate_areas, read_areas
from s2vec_geo.evaluation.external import (
    embeddings_for_cells,
    geoclip_cell_embeddings,
    geoclip_embeddings,
    read_cell_table,
)
from s2vec_geo.evaluation.fusion import make_fusion
from s2vec_geo.evaluation.inputs import Area
from s2vec_geo.evaluation.labels import align_labels, read_labels
from s2vec_geo.evaluation.location import cell_location_encoding, location_encoding
from s2vec_geo.evaluation.metrics import spearman
from s2vec_geo.evaluation.mlp import DEFAULT_GRID, MLPConfig, TrainSettings, fit, sweep
from s2vec_geo.evaluation.protocol import (
    EvalConfig,
    EvaluationResult,
    Variant,
    default_variants,
    evaluate,
)
from s2vec_geo.evaluation.report import plot_results, results_markdown, write_report
from s2vec_geo.evaluation.splits import (
    Split,
    area_splits,
    holdout_splits,
    random_splits,
    region_mask,
)
from s2vec_geo.evaluation.targets import TargetScale, geodesic_area_km2

__all__ = [
    "DEFAULT_GRID",
    "Area",
    "AreasResult",
    "EvalConfig",
    "EvaluationResult",
    "MLPConfig",
    "Split",
    "TargetScale",
    "TrainSettings",
    "Variant",
    "align_labels",
    "area_splits",
    "cell_location_encoding",
    "default_variants",
    "embeddings_for_cells",
    "evaluate",
    "evaluate_areas",
    "fit",
    "geoclip_cell_embeddings",
    "geoclip_embeddings",
    "geodesic_area_km2",
    "holdout_splits",
    "location_encoding",
    "make_fusion",
    "plot_results",
    "random_splits",
    "read_areas",
    "read_cell_table",
    "read_labels",
    "region_mask",
    "results_markdown",
    "spearman",
    "sweep",
    "write_report",
]
