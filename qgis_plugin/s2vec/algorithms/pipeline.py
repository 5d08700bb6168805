"""Pipeline group: OpenStreetMap file to styled cell embeddings in one algorithm."""

from __future__ import annotations

from ..engine import option, workspace
from ..styles import style_embedding, style_on_load
from .base import S2VecAlgorithm, optional_source, run_to_destination
from .params import (
    WINDOW_MODES,
    area_of_interest,
    embedding_size,
    epochs,
    image_level,
    layer_output,
    min_support,
    more_files,
    patch_level,
    pbf_file,
    seed,
    windows,
)

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
    PBF, MORE_PBF, LEVEL, IMAGE_LEVEL, AOI = "PBF", "MORE_PBF", "LEVEL", "IMAGE_LEVEL", "AOI"
    MIN_SUPPORT, WINDOWS = "MIN_SUPPORT", "WINDOWS"
    EPOCHS, EMBED_DIM, SEED, OUTPUT = "EPOCHS", "EMBED_DIM", "SEED", "OUTPUT"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """OSM file, levels, area, training settings, output embeddings."""
        self.addParameter(pbf_file(self.PBF))
        self.addParameter(
            more_files(
                self.MORE_PBF,
                "More OpenStreetMap files (one model over all areas)",
                "Optional further extracts, e.g. other cities: the model is trained on all of "
                "them together and every area is embedded.",
            )
        )
        self.addParameter(patch_level(self.LEVEL))
        self.addParameter(image_level(self.IMAGE_LEVEL))
        self.addParameter(area_of_interest(self.AOI))
        self.addParameter(min_support(self.MIN_SUPPORT))
        self.addParameter(windows(self.WINDOWS))
        self.addParameter(epochs(self.EPOCHS))
        self.addParameter(embedding_size(self.EMBED_DIM))
        self.addParameter(seed(self.SEED))
        self.addParameter(
            layer_output(
                self.OUTPUT,
                "Cell embeddings",
                "GeoPackage with one polygon per patch cell: cell_id, token and emb_000, ...",
            )
        )

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

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Run ``s2vec run``."""
        destination = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with workspace() as folder:
            aoi = optional_source(self, parameters, self.AOI, context, feedback, folder, "--aoi")
            integers = {
                "--level": self.LEVEL,
                "--image-level": self.IMAGE_LEVEL,
                "--epochs": self.EPOCHS,
                "--embed-dim": self.EMBED_DIM,
                "--seed": self.SEED,
            }
            values = {f: self.parameterAsInt(parameters, k, context) for f, k in integers.items()}
            support = self.parameterAsDouble(parameters, self.MIN_SUPPORT, context)
            windows = self.parameterAsEnum(parameters, self.WINDOWS, context)
            args = [
                self.parameterAsFile(parameters, self.PBF, context),
                *(p for p in self.parameterAsFileList(parameters, self.MORE_PBF, context) if p),
                *(option(flag, value) for flag, value in values.items()),
                option("--min-support", support),
                option("--windows", WINDOW_MODES[windows]),
                *aoi,
            ]
            run_to_destination("run", args, destination, folder, feedback)
        style_on_load(context, destination, style_embedding)
        return {self.OUTPUT: destination}
