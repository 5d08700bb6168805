"""Analysis group: join embeddings to a layer, evaluate embeddings against labels."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputFile,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterVectorDestination,
)

from ..engine import option, workspace
from ..layers import export_source
from ..styles import style_embedding, style_on_load
from .base import S2VecAlgorithm, integer_parameter, run_to_destination, with_help
from .params import cell_layer, seed

GROUP, GROUP_ID = "Analysis", "analysis"
EMBEDDINGS_HELP = "Cell embedding layer written by 'Embed cells' or 'Whole pipeline'."
REPORT_FILES = {"REPORT": "results.md", "RESULTS": "results.json", "PLOT": "results_r2.png"}


class JoinEmbeddings(S2VecAlgorithm):
    """Give every feature of a layer the S2Vec embedding of where it is."""

    NAME = "join"
    DISPLAY_NAME = "Join embeddings to a layer"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Adds the embedding columns to every feature of a layer: a point gets its cell's "
        "embedding, a polygon the area-weighted mean over the cells it covers, a line the "
        "length-weighted mean over the cells it crosses. Features without an embedded cell "
        "get empty values."
    )
    INPUT, EMBEDDINGS, OUTPUT = "INPUT", "EMBEDDINGS", "OUTPUT"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """Target layer, embeddings, output layer."""
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSource(
                    self.INPUT, "Layer", [QgsProcessing.TypeVectorAnyGeometry]
                ),
                "Features to enrich (any geometry, any provider; needs a CRS).",
            )
        )
        self.addParameter(cell_layer(self.EMBEDDINGS, "Cell embeddings", EMBEDDINGS_HELP))
        self.addParameter(
            with_help(
                QgsProcessingParameterVectorDestination(self.OUTPUT, "Layer with embeddings"),
                "The input features with their fields plus emb_000, emb_001, ...",
            )
        )

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Export both layers, run ``s2vec join``."""
        destination = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with workspace() as folder:
            layer = export_source(self, parameters, self.INPUT, context, feedback, folder)
            cells = export_source(self, parameters, self.EMBEDDINGS, context, feedback, folder)
            args = [layer, option("--embeddings", cells)]
            run_to_destination("join", args, destination, folder, feedback)
        style_on_load(context, destination, style_embedding)
        return {self.OUTPUT: destination}


class EvaluateEmbeddings(S2VecAlgorithm):
    """The paper's downstream evaluation: predict a label from the embeddings."""

    NAME = "evaluate"
    DISPLAY_NAME = "Evaluate embeddings against labels"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Aligns a label layer (points or polygons with a numeric field, e.g. median income "
        "of census tracts) to the embedded cells, trains a small MLP on random 60/20/20 "
        "splits and reports R2 and mean absolute error on the min-max scaled target (paper "
        "sections 5.2-5.4), beside baselines. Writes results.md, results.json and a plot."
    )
    EMBEDDINGS, LABELS, TARGET, SPLITS, SEED = "EMBEDDINGS", "LABELS", "TARGET", "SPLITS", "SEED"
    OUTPUT = "OUTPUT"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """Embeddings, labels, target field, splits, seed, report folder."""
        self.addParameter(cell_layer(self.EMBEDDINGS, "Cell embeddings", EMBEDDINGS_HELP))
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSource(
                    self.LABELS, "Label layer", [QgsProcessing.TypeVectorAnyGeometry]
                ),
                "Points or polygons carrying the value to predict; needs a CRS.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterField(
                    self.TARGET,
                    "Target field",
                    parentLayerParameterName=self.LABELS,
                    type=QgsProcessingParameterField.Numeric,
                ),
                "Numeric field of the label layer to predict.",
            )
        )
        self.addParameter(
            integer_parameter(
                self.SPLITS, "Random splits", 20, 1, 200, "Number of random splits (paper: 20)."
            )
        )
        self.addParameter(seed(self.SEED))
        self.addParameter(
            with_help(
                QgsProcessingParameterFolderDestination(self.OUTPUT, "Report folder"),
                "New (or empty) folder for results.md, results.json and results_r2.png.",
            )
        )
        for key, name in REPORT_FILES.items():
            self.addOutput(QgsProcessingOutputFile(key, name))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Export both layers, run ``s2vec evaluate``."""
        target = self.parameterAsFields(parameters, self.TARGET, context)[0]
        destination = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        with workspace() as folder:
            cells = export_source(self, parameters, self.EMBEDDINGS, context, feedback, folder)
            labels = export_source(self, parameters, self.LABELS, context, feedback, folder)
            args = [
                option("--embeddings", cells),
                option("--labels", labels),
                option("--target", target),
                option("--splits", self.parameterAsInt(parameters, self.SPLITS, context)),
                option("--seed", self.parameterAsInt(parameters, self.SEED, context)),
            ]
            run_to_destination("evaluate", args, destination, folder, feedback)
        results = {key: os.path.join(destination, name) for key, name in REPORT_FILES.items()}
        return {self.OUTPUT: destination, **results}
