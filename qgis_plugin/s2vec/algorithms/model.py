"""Model group: build images, train the masked autoencoder, embed cells."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingOutputFile,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
)

from ..engine import option, workspace
from ..layers import export_source
from ..styles import style_embedding, style_on_load
from .base import S2VecAlgorithm, run_to_destination, with_help
from .params import (
    WINDOW_MODES,
    cell_layer,
    embedding_size,
    embedding_window_choice,
    embedding_windows,
    epochs,
    image_level,
    layer_output,
    min_support,
    more_files,
    seed,
    stride,
    windows,
)

GROUP, GROUP_ID = "Model", "model"
MODEL_FILE = "model.pt"
EMBED_MODES = ("contextual", "patch")
FEATURIZED_HELP = "Cell layer written by 'Featurize cells' (cell_id and count columns)."
EMBEDDING_HELP = (
    "GeoPackage with one polygon per cell: cell_id, token and the embedding columns emb_000, "
    "emb_001, ... Loaded styled by the first embedding component."
)


class BuildImages(S2VecAlgorithm):
    """Rasterize featurized cells into S2Vec images."""

    NAME = "images"
    DISPLAY_NAME = "Build images"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Places every featurized patch cell at its true S2 position inside its ancestor at "
        "the image level and writes the images (memory-mapped shards) with global "
        "normalization statistics: the training set of the model (paper section 3.2)."
    )
    CELLS, IMAGE_LEVEL, MIN_SUPPORT, OUTPUT = "CELLS", "IMAGE_LEVEL", "MIN_SUPPORT", "OUTPUT"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """Featurized cells, image level, output folder."""
        self.addParameter(cell_layer(self.CELLS, "Featurized cells", FEATURIZED_HELP))
        self.addParameter(image_level(self.IMAGE_LEVEL))
        self.addParameter(min_support(self.MIN_SUPPORT))
        self.addParameter(
            with_help(
                QgsProcessingParameterFolderDestination(self.OUTPUT, "Image dataset folder"),
                "New (or empty) folder for the image dataset.",
            )
        )

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Export the cells, run ``s2vec images``."""
        level = self.parameterAsInt(parameters, self.IMAGE_LEVEL, context)
        destination = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        with workspace() as folder:
            cells = export_source(self, parameters, self.CELLS, context, feedback, folder)
            support = self.parameterAsDouble(parameters, self.MIN_SUPPORT, context)
            args = [cells, option("--image-level", level), option("--min-support", support)]
            run_to_destination("images", args, destination, folder, feedback)
        return {self.OUTPUT: destination}


class TrainModel(S2VecAlgorithm):
    """Train the S2Vec masked autoencoder on an image dataset."""

    NAME = "train"
    DISPLAY_NAME = "Train model"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Trains the S2Vec masked autoencoder (paper Table 1) on an image dataset written by "
        "'Build images'. The run folder receives model.pt (weights, configuration and "
        "normalization statistics) and the training history. With more image datasets (e.g. "
        "other cities built at the same levels), one model is trained over all of them, "
        "normalized over all of them. Uses the engine's GPU when it has one."
    )
    IMAGES, MORE_IMAGES, EPOCHS, EMBED_DIM = "IMAGES", "MORE_IMAGES", "EPOCHS", "EMBED_DIM"
    SEED, WINDOWS = "SEED", "WINDOWS"
    OUTPUT, MODEL = "OUTPUT", "MODEL"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """Image folder, epochs, embedding size, seed; run folder and model file."""
        self.addParameter(
            with_help(
                QgsProcessingParameterFile(
                    self.IMAGES, "Image dataset folder", behavior=QgsProcessingParameterFile.Folder
                ),
                "Folder written by 'Build images'.",
            )
        )
        self.addParameter(
            more_files(
                self.MORE_IMAGES,
                "More image datasets (their meta.json files)",
                "Optional further image datasets, e.g. other areas built at the same levels: "
                "pick the meta.json file in each dataset folder.",
            )
        )
        self.addParameter(windows(self.WINDOWS))
        self.addParameter(epochs(self.EPOCHS))
        self.addParameter(embedding_size(self.EMBED_DIM))
        self.addParameter(seed(self.SEED))
        self.addParameter(
            with_help(
                QgsProcessingParameterFolderDestination(self.OUTPUT, "Training run folder"),
                "New (or empty) folder for model.pt and the training history.",
            )
        )
        self.addOutput(QgsProcessingOutputFile(self.MODEL, "Model file"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Run ``s2vec train``."""
        images = self.parameterAsFile(parameters, self.IMAGES, context)
        more = self.parameterAsFileList(parameters, self.MORE_IMAGES, context)
        windows = self.parameterAsEnum(parameters, self.WINDOWS, context)
        args = [
            images,
            *(os.path.dirname(p) if os.path.isfile(p) else p for p in more if p),
            option("--windows", WINDOW_MODES[windows]),
            option("--epochs", self.parameterAsInt(parameters, self.EPOCHS, context)),
            option("--embed-dim", self.parameterAsInt(parameters, self.EMBED_DIM, context)),
            option("--seed", self.parameterAsInt(parameters, self.SEED, context)),
        ]
        destination = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        with workspace() as folder:
            run_to_destination("train", args, destination, folder, feedback)
        return {self.OUTPUT: destination, self.MODEL: os.path.join(destination, MODEL_FILE)}


class EmbedCells(S2VecAlgorithm):
    """Embed featurized cells with a trained model."""

    NAME = "embed"
    DISPLAY_NAME = "Embed cells"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Computes the S2Vec embedding of every featurized cell with a trained model (paper "
        "section 3.3). The layer is loaded styled by its first embedding component."
    )
    CELLS, MODEL, MODE, OUTPUT = "CELLS", "MODEL", "MODE", "OUTPUT"
    WINDOWS, STRIDE = "WINDOWS", "STRIDE"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """Featurized cells, model file, output embeddings."""
        self.addParameter(cell_layer(self.CELLS, "Featurized cells", FEATURIZED_HELP))
        self.addParameter(
            with_help(
                QgsProcessingParameterFile(
                    self.MODEL, "Model file", fileFilter="S2Vec model (*.pt)"
                ),
                "model.pt written by 'Train model' (or 'Whole pipeline').",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterEnum(
                    self.MODE, "Embedding", options=list(EMBED_MODES), defaultValue=0
                ),
                "contextual: the encoder's output for the cell with its neighbourhood visible "
                "(default); patch: the paper's linear patch embedding of the cell alone.",
            )
        )
        self.addParameter(embedding_windows(self.WINDOWS))
        self.addParameter(stride(self.STRIDE))
        self.addParameter(layer_output(self.OUTPUT, "Cell embeddings", EMBEDDING_HELP))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Export the cells, run ``s2vec embed``."""
        model = self.parameterAsFile(parameters, self.MODEL, context)
        destination = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with workspace() as folder:
            cells = export_source(self, parameters, self.CELLS, context, feedback, folder)
            mode = EMBED_MODES[self.parameterAsEnum(parameters, self.MODE, context)]
            args = [cells, option("--model", model), option("--mode", mode)]
            args += embedding_window_choice(self.parameterAsEnum(parameters, self.WINDOWS, context))
            step = self.parameterAsInt(parameters, self.STRIDE, context)
            args += [option("--stride", step)] if step else []
            run_to_destination("embed", args, destination, folder, feedback)
        style_on_load(context, destination, style_embedding)
        return {self.OUTPUT: destination}
