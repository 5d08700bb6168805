"""Pipeline group: OpenStreetMap file to styled cell embeddings in one algorithm."""

from __future__ import annotations

import os

from ..engine import option
from ..styles import style_embedding
from .base import S2VecAlgorithm
from .model import LOSS_CURVE_FILE, MODEL_FILE, TRAINING
from .params import pbf_file

GROUP, GROUP_ID = "Pipeline", "pipeline"
WORK_DIR, RUN_DIR = "work", "model"
"""The engine's work folder inside the algorithm's, and its training run folder."""
PNG = "PNG image (*.png)"
NO_MODEL = "none"
"""``s2vec run --model-out none``: keep no model file (the layer records its SHA-256)."""


class WholePipeline(S2VecAlgorithm):
    """Featurize, build images, train and embed in one run."""

    NAME = "pipeline"
    DISPLAY_NAME = "Whole pipeline (OpenStreetMap to embeddings)"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Runs every S2Vec step on an OpenStreetMap file: counts points of interest and roads "
        "per patch cell, builds images at the image level, trains the masked autoencoder and "
        "embeds every cell. With more OpenStreetMap files, one model is trained over all the "
        "areas (normalized over all of them) and every area is embedded into the one layer. "
        "The embedding layer is loaded in its PCA-RGB colours (its first three principal "
        "components as red, green and blue). Pick destinations for the model file, the loss "
        "curve and the PCA map to keep them; the rest of the run's work folder is removed. "
        "The layer records the kept model file (or that none was kept) and its SHA-256."
    )
    COMMAND = "run"
    PBF, MODEL = "PBF", "MODEL"
    MORE = (
        "MORE_PBF",
        "More OpenStreetMap files (one model over all areas)",
        "Optional further extracts, e.g. other cities: the model is trained on all of them "
        "together and every area is embedded.",
    )
    LEVEL, IMAGE_LEVEL = "LEVEL", "IMAGE_LEVEL"
    OPTIONS = (
        "level",
        "image_level",
        "aoi",
        "taxonomy",
        "min_support",
        "mode",
        *TRAINING,
        "max_cells",
        "memory_budget",
    )
    STYLE = staticmethod(style_embedding)
    OUTPUT_LABEL = "Cell embeddings"
    OUTPUT_HELP = "GeoPackage with one polygon per patch cell: cell_id, token and emb_000, ..."
    PRODUCTS = (
        (
            "MODEL",
            "Model file",
            "S2Vec model (*.pt)",
            "Optional: where to keep the trained model (model.pt: weights, settings and "
            "normalization statistics), to embed other areas with 'Embed cells'.",
        ),
        (
            "LOSS_CURVE",
            "Loss curve",
            PNG,
            "Optional: where to keep the training and held-out loss per epoch, beside the "
            "per-feature mean and neighbour baselines (PNG).",
        ),
        (
            "PCA_MAP",
            "PCA map",
            PNG,
            "Optional: where to keep the map of the embeddings' first three principal "
            "components as RGB (PNG).",
        ),
    )

    def inputs(self):
        """The OpenStreetMap file."""
        return [pbf_file(self.PBF)]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The files, as they are, the engine's work folder inside the run's, the model's place.

        The engine writes the model where the user keeps it (or keeps none), so the
        layer's provenance names that file, not the work folder removed after the run.
        """
        model = self.parameterAsFileOutput(parameters, self.MODEL, context)
        if model:
            os.makedirs(os.path.dirname(os.path.abspath(model)), exist_ok=True)
        return [
            self.parameterAsFile(parameters, self.PBF, context),
            *self.more(parameters, context),
            option("--work-dir", os.path.join(folder, WORK_DIR)),
            option("--model-out", model or NO_MODEL),
        ]

    def products(self, folder, produced, kept):
        """The model where kept; the loss curve in the training run folder; the PCA map beside
        the layer."""
        run = os.path.join(folder, WORK_DIR, RUN_DIR)
        return {
            self.MODEL: kept.get(self.MODEL, os.path.join(run, MODEL_FILE)),
            "LOSS_CURVE": os.path.join(run, LOSS_CURVE_FILE),
            "PCA_MAP": os.path.splitext(produced)[0] + ".png",
        }

    def checkParameterValues(self, parameters, context):  # noqa: N802 (QGIS API)
        """The image level must be coarser (lower) than the patch level."""
        level = self.parameterAsInt(parameters, self.LEVEL, context)
        image = self.parameterAsInt(parameters, self.IMAGE_LEVEL, context)
        if image >= level:
            return False, (
                f"The image level ({image}) must be lower than the patch level ({level}): "
                "an image groups the patch cells of one coarser S2 cell."
            )
        return super().checkParameterValues(parameters, context)
