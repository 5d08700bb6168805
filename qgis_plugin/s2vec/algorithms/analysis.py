"""Analysis group: join embeddings to a layer, evaluate embeddings against labels."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterField

from ..engine import option
from ..styles import style_embedding
from .base import S2VecAlgorithm
from .params import INPUT, cell_layer, feature_layer, with_help

GROUP, GROUP_ID = "Analysis", "analysis"
EMBEDDINGS_HELP = "Cell embedding layer written by 'Embed cells' or 'Whole pipeline'."
REPORT_FILES = tuple(
    (key, name, name)
    for key, name in (
        ("REPORT", "results.md"),
        ("RESULTS", "results.json"),
        ("PLOT", "results_r2.png"),
    )
)


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
    COMMAND = "join"
    EMBEDDINGS = "EMBEDDINGS"
    STYLE = staticmethod(style_embedding)
    OUTPUT_POLYGONS, OUTPUT_LABEL = False, "Layer with embeddings"
    OUTPUT_HELP = "The input features with their fields plus emb_000, emb_001, ..."

    def inputs(self):
        """The layer to enrich and the embeddings."""
        return [
            feature_layer("Layer", "Features to enrich (any geometry, any provider; needs a CRS)."),
            cell_layer(self.EMBEDDINGS, "Cell embeddings", EMBEDDINGS_HELP),
        ]

    def engine_inputs(self, parameters, context, feedback, folder):
        """Both layers, exported."""
        layer = self.exported(parameters, INPUT, context, feedback, folder)
        cells = self.exported(parameters, self.EMBEDDINGS, context, feedback, folder)
        return [layer, option("--embeddings", cells)]


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
    COMMAND = "evaluate"
    EMBEDDINGS, LABELS, TARGET = "EMBEDDINGS", "LABELS", "TARGET"
    OPTIONS = (
        "n_splits",
        "seed",
        "block_level",
        "rule",
        "min_overlap",
        "drop_missing",
        "location",
        "threads",
    )
    OUTPUT_FOLDER, OUTPUT_LABEL = True, "Report folder"
    OUTPUT_HELP = "New (or empty) folder for results.md, results.json and results_r2.png."
    FILES = REPORT_FILES

    def inputs(self):
        """Embeddings, labels and the target field."""
        return [
            cell_layer(self.EMBEDDINGS, "Cell embeddings", EMBEDDINGS_HELP),
            feature_layer(
                "Label layer",
                "Points or polygons carrying the value to predict; needs a CRS.",
                self.LABELS,
            ),
            with_help(
                QgsProcessingParameterField(
                    self.TARGET,
                    "Target field",
                    parentLayerParameterName=self.LABELS,
                    type=QgsProcessingParameterField.Numeric,
                ),
                "Numeric field of the label layer to predict.",
            ),
        ]

    def engine_inputs(self, parameters, context, feedback, folder):
        """Both layers, exported, and the target."""
        target = self.parameterAsFields(parameters, self.TARGET, context)[0]
        cells = self.exported(parameters, self.EMBEDDINGS, context, feedback, folder)
        labels = self.exported(parameters, self.LABELS, context, feedback, folder)
        return [
            option("--embeddings", cells),
            option("--labels", labels),
            option("--target", target),
        ]
