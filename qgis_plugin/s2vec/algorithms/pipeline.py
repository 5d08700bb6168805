"""Pipeline group: OpenStreetMap file to styled cell embeddings in one algorithm."""

from __future__ import annotations

from ..styles import style_embedding
from .base import S2VecAlgorithm
from .model import TRAINING
from .params import pbf_file

GROUP, GROUP_ID = "Pipeline", "pipeline"


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
        "The embedding layer is loaded styled by its first component."
    )
    COMMAND = "run"
    PBF = "PBF"
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
    )
    STYLE = staticmethod(style_embedding)
    OUTPUT_LABEL = "Cell embeddings"
    OUTPUT_HELP = "GeoPackage with one polygon per patch cell: cell_id, token and emb_000, ..."

    def inputs(self):
        """The OpenStreetMap file."""
        return [pbf_file(self.PBF)]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The files, as they are."""
        return [
            self.parameterAsFile(parameters, self.PBF, context),
            *self.more(parameters, context),
        ]

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
