"""The provider's algorithms, one module per toolbox group."""

from __future__ import annotations

from .analysis import EvaluateAreas, EvaluateEmbeddings, JoinEmbeddings
from .cells import CoverExtent, CoverLayer
from .features import FeaturizeLayer, FeaturizeOsm
from .model import BuildImages, EmbedCells, TrainModel
from .pipeline import WholePipeline

ALGORITHMS = (
    CoverLayer,
    CoverExtent,
    FeaturizeOsm,
    FeaturizeLayer,
    BuildImages,
    TrainModel,
    EmbedCells,
    JoinEmbeddings,
    EvaluateEmbeddings,
    EvaluateAreas,
    WholePipeline,
)
