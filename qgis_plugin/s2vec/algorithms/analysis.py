"""Analysis group: join embeddings to a layer, evaluate embeddings against labels."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterField

from ..engine import option
from ..styles import style_embedding
from .base import S2VecAlgorithm
from .params import INPUT, cell_layer, feature_layer, input_file, with_help

GROUP, GROUP_ID = "Analysis", "analysis"
EMBEDDINGS_HELP = "Cell embedding layer written by 'Embed cells' or 'Whole pipeline'."
EVALUATION = (
    "n_splits",
    "seed",
    "block_level",
    "drop_missing",
    "rule",
    "min_overlap",
    "location",
    "geoclip",
    "multiscale",
    "untrained",
    "threads",
)
"""Options of every evaluation, one area or several (as ``s2vec evaluate``'s shared ones)."""
REPORT_FILES = tuple(
    (key, name, name)
    for key, name in (
        ("REPORT", "results.md"),
        ("RESULTS", "results.json"),
        ("PLOT", "results_r2.png"),
    )
)


AREAS_FORMAT = """The areas file (TOML) has one [[area]] table per area. Relative paths are read
from the file's folder; keys before the first [[area]] apply to every area. Example:

    target = "population"
    transform = ["density", "log"]   # people per km2, then log (density: polygons only)

    [[area]]
    name = "helsinki"
    embeddings = "helsinki/embeddings.gpkg"
    labels = "labels/helsinki_population.gpkg"
    counts = "helsinki/cells.gpkg"   # optional: the raw-counts baseline

    [[area]]
    name = "espoo"
    embeddings = "espoo/embeddings.gpkg"
    labels = "labels/espoo_population.gpkg"
    labels_crs = "EPSG:3067"         # when the labels file has no CRS
    drop_missing = true

Keys of an area: name, embeddings, labels, target (required); counts, transform
(density, log), labels_crs, lon_col, lat_col (a CSV of points), rule, min_overlap,
drop_missing."""
"""The areas file's format, as the engine reads it (``s2vec_geo/evaluation/areas.py``)."""


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
    OPTIONS = ("max_cells",)
    EMBEDDINGS = "EMBEDDINGS"
    FLAGS = (("--embeddings", EMBEDDINGS),)
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


class _Evaluate(S2VecAlgorithm):
    """The evaluations: a report folder with the results as Markdown, JSON and a plot."""

    GROUP, GROUP_ID = GROUP, GROUP_ID
    COMMAND = "evaluate"
    OUTPUT_FOLDER, OUTPUT_LABEL = True, "Report folder"
    OUTPUT_HELP = (
        "New (or empty) folder for results.md, results.json and results_r2.png; a used one "
        "with 'Overwrite'."
    )
    FILES = REPORT_FILES


class EvaluateEmbeddings(_Evaluate):
    """The paper's downstream evaluation: predict a label from the embeddings."""

    NAME = "evaluate"
    DISPLAY_NAME = "Evaluate embeddings against labels"
    HELP = (
        "Aligns a label layer (points or polygons with a numeric field, e.g. median income "
        "of census tracts) to the embedded cells, trains a small MLP on random 60/20/20 "
        "splits and reports R2 and mean absolute error on the min-max scaled target (paper "
        "sections 5.2-5.4), beside baselines: the location encoding and, with a featurized "
        "cell layer, the raw counts, the multi-scale neighbourhood counts and (with the model "
        "file) the untrained network, the same model with random weights. Block splits (a "
        "block S2 level) keep neighbouring cells of one area-constant label out of each "
        "other's splits; a spatial hold-out tests on "
        "a region the MLP never saw. Writes results.md, results.json and a plot."
    )
    EMBEDDINGS, LABELS, TARGET, COUNTS = "EMBEDDINGS", "LABELS", "TARGET", "COUNTS"
    MODEL = "MODEL"
    OPTIONS = (*EVALUATION, "holdout", "transform", "overwrite")
    FLAGS = (
        ("--embeddings", EMBEDDINGS),
        ("--labels", LABELS),
        ("--target", TARGET),
        ("--counts", COUNTS),
        ("--model", MODEL),
    )

    def inputs(self):
        """Embeddings, labels, the target field, the optional raw counts and model."""
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
            cell_layer(
                self.COUNTS,
                "Featurized cells (raw-counts baseline)",
                "Optional: the featurized cell layer the embeddings were made from ('Featurize "
                "cells'); adds the raw counts and the multi-scale neighbourhood counts as "
                "baselines the embeddings should beat.",
                optional=True,
            ),
            input_file(
                self.MODEL,
                "Model file (untrained-network baseline)",
                "Optional: the model.pt the embeddings were made with; with the featurized "
                "cells, adds the same model with random weights, to show what training added.",
                filter_="S2Vec model (*.pt)",
                optional=True,
            ),
        ]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The layers, exported, and the target."""
        target = self.parameterAsFields(parameters, self.TARGET, context)[0]
        cells = self.exported(parameters, self.EMBEDDINGS, context, feedback, folder)
        labels = self.exported(parameters, self.LABELS, context, feedback, folder)
        args = [
            option("--embeddings", cells),
            option("--labels", labels),
            option("--target", target),
        ]
        if parameters.get(self.COUNTS) is not None:
            counts = self.exported(parameters, self.COUNTS, context, feedback, folder)
            args.append(option("--counts", counts))
        model = self.parameterAsFile(parameters, self.MODEL, context)
        if model:
            args.append(option("--model", model))
        return args


class EvaluateAreas(_Evaluate):
    """Leave-one-area-out transfer and per-area block splits over several areas."""

    NAME = "evaluateareas"
    DISPLAY_NAME = "Evaluate embeddings across areas (transfer)"
    HELP = (
        "Evaluates embeddings of several areas listed in an areas file. Leave one area out "
        "trains the MLP on all other areas and tests it on each area in turn: does the "
        "embedding transfer to a place it never saw? Block splits evaluate each area on its "
        "own. Neither ticked: both run.\n\n" + AREAS_FORMAT
    )
    AREAS = "AREAS"
    OPTIONS = ("leave_one_area_out", "blocks", *EVALUATION, "transfer_val_fraction", "overwrite")
    FLAGS = (("--areas", AREAS),)

    def inputs(self):
        """The areas file."""
        text = (
            "TOML file with one [[area]] table per area (name, embeddings, labels, target; "
            "optional counts, transform, ...); relative paths are read from its folder."
        )
        return [input_file(self.AREAS, "Areas file", text, filter_="Areas file (*.toml)")]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The areas file, as it is."""
        return [option("--areas", self.parameterAsFile(parameters, self.AREAS, context))]
