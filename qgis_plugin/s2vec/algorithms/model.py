"""Model group: build images (and export them as GeoTIFF), train the masked autoencoder,
embed cells."""

from __future__ import annotations

import os

from ..engine import option
from ..styles import style_embedding
from .base import S2VecAlgorithm
from .params import cell_layer, input_file

GROUP, GROUP_ID = "Model", "model"
MODEL_FILE = "model.pt"
PRETRAINED = "pretrained"
"""The engine's name of the model that ships with it (an empty model file chooses it)."""
LOSS_CURVE_FILE = "loss_curve.png"
"""What a training run folder holds (beside history.json): the engine's names."""
FEATURIZED_HELP = "Cell layer written by 'Featurize cells' (cell_id and count columns)."
IMAGES_HELP = "Folder written by 'Build images'."
EMBEDDING_HELP = (
    "GeoPackage with one polygon per cell: cell_id, token and the embedding columns emb_000, "
    "emb_001, ... and pca_rgb; loaded in its PCA-RGB colours."
)
TRAINING = (
    "windows",
    "epochs",
    "embed_dim",
    "seed",
    "batch_size",
    "lr",
    "warmup_epochs",
    "mask_ratio",
    "val_fraction",
    "depth",
    "num_heads",
    "decoder_dim",
    "decoder_depth",
    "dropout",
    "pos_embed",
    "augment",
    "init",
    "cpu_threads",
)
"""The training options offered (the rarer ones under "Advanced parameters")."""


class _Cells(S2VecAlgorithm):
    """Algorithms that read a featurized cell layer."""

    GROUP, GROUP_ID = GROUP, GROUP_ID
    CELLS = "CELLS"

    def engine_inputs(self, parameters, context, feedback, folder):
        """The cells, exported."""
        return [self.exported(parameters, self.CELLS, context, feedback, folder)]


class BuildImages(_Cells):
    """Rasterize featurized cells into S2Vec images."""

    NAME = "images"
    DISPLAY_NAME = "Build images"
    HELP = (
        "Places every featurized patch cell at its true S2 position inside its ancestor at "
        "the image level and writes the images (memory-mapped shards) with global "
        "normalization statistics: the training set of the model (paper section 3.2)."
    )
    COMMAND = "images"
    OPTIONS = ("image_level", "min_support", "max_cells", "memory_budget", "overwrite")
    OUTPUT_FOLDER, OUTPUT_LABEL = True, "Image dataset folder"
    OUTPUT_HELP = "New (or empty) folder for the image dataset; a used one with 'Overwrite'."

    def inputs(self):
        """The featurized cells."""
        return [cell_layer(self.CELLS, "Featurized cells", FEATURIZED_HELP)]


class ExportGeoTiff(S2VecAlgorithm):
    """Export the images of an image dataset as georeferenced GeoTIFFs."""

    NAME = "geotiff"
    DISPLAY_NAME = "Export images as GeoTIFF"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Writes images of a dataset built by 'Build images' as GeoTIFFs, one <token>.tif per "
        "image: one band per feature (raw counts, or the normalized values the model sees), "
        "NaN where no cell, in the gnomonic projection of the image's S2 cube face, so the "
        "pixels are the cells where they lie."
    )
    COMMAND = "geotiff"
    IMAGES = "IMAGES"
    OPTIONS = ("parents", "features", "normalized")
    OUTPUT_FOLDER, OUTPUT_LABEL = True, "GeoTIFF folder"
    OUTPUT_HELP = "New (or empty) folder for one <parent token>.tif per image."

    def inputs(self):
        """The image dataset folder."""
        return [input_file(self.IMAGES, "Image dataset folder", IMAGES_HELP, folder=True)]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The dataset folder, as it is."""
        return [self.parameterAsFile(parameters, self.IMAGES, context)]


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
    COMMAND = "train"
    IMAGES = "IMAGES"
    MORE = (
        "MORE_IMAGES",
        "More image datasets (their meta.json files)",
        "Optional further image datasets, e.g. other areas built at the same levels: pick the "
        "meta.json file in each dataset folder.",
    )
    OPTIONS = (*TRAINING, "memory_budget", "overwrite")
    OUTPUT_FOLDER, OUTPUT_LABEL = True, "Training run folder"
    OUTPUT_HELP = (
        "New (or empty) folder for model.pt and the training history; a used one with 'Overwrite'."
    )
    FILES = (("MODEL", "Model file", MODEL_FILE),)

    def inputs(self):
        """The image dataset folder."""
        return [input_file(self.IMAGES, "Image dataset folder", IMAGES_HELP, folder=True)]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The dataset folders (a meta.json stands for its folder)."""
        more = self.more(parameters, context)
        return [
            self.parameterAsFile(parameters, self.IMAGES, context),
            *(os.path.dirname(p) if os.path.isfile(p) else p for p in more),
        ]


class EmbedCells(_Cells):
    """Embed featurized cells with a trained model."""

    NAME = "embed"
    DISPLAY_NAME = "Embed cells"
    HELP = (
        "Computes the S2Vec embedding of every featurized cell with a trained model (paper "
        "section 3.3). The layer is loaded in its PCA-RGB colours (first three principal "
        "components as red, green and blue)."
    )
    COMMAND = "embed"
    MODEL = "MODEL"
    OPTIONS = ("mode", "embed_windows", "stride", "embed_batch_size")
    FLAGS = (("--model", MODEL),)
    STYLE = staticmethod(style_embedding)
    OUTPUT_LABEL, OUTPUT_HELP = "Cell embeddings", EMBEDDING_HELP

    def inputs(self):
        """The featurized cells and the model file."""
        return [
            cell_layer(self.CELLS, "Featurized cells", FEATURIZED_HELP),
            input_file(
                self.MODEL,
                "Model file",
                "model.pt written by 'Train model' (or 'Whole pipeline'). Leave it empty to "
                "embed with the model pretrained on 27 cities that ships with s2vec-geo "
                "(cells at level 16 in images at level 12, taxonomy v1).",
                filter_="S2Vec model (*.pt)",
                optional=True,
            ),
        ]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The cells, exported, and the model file."""
        model = self.parameterAsFile(parameters, self.MODEL, context) or PRETRAINED
        cells = super().engine_inputs(parameters, context, feedback, folder)
        return [*cells, option("--model", model)]
