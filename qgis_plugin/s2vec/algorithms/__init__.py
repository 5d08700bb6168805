"""The provider's algorithms, one module per toolbox group."""

from __future__ import annotations

from .analysis import EvaluateAreas, EvaluateEmbeddings, JoinEmbeddings
from .cells import CoverExtent, CoverLayer, PointCells
from .features import FeaturizeLayer, FeaturizeOsm
from .model import BuildImages, EmbedCells, ExportGeoTiff, TrainModel
from .pipeline import WholePipeline

ALGORITHMS = (
    CoverLayer,
    CoverExtent,
    PointCells,
    FeaturizeOsm,
    FeaturizeLayer,
    BuildImages,
    ExportGeoTiff,
    TrainModel,
    EmbedCells,
    JoinEmbeddings,
    EvaluateEmbeddings,
    EvaluateAreas,
    WholePipeline,
)
