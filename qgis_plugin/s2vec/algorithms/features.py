"""Features group: count built-environment features per S2 cell (engine command ``featurize``)."""

from __future__ import annotations

from .base import LayerInput, S2VecAlgorithm
from .params import pbf_file

GROUP, GROUP_ID = "Features", "features"
OUTPUT_HELP = (
    "GeoPackage with one polygon per patch cell: cell_id, token and one column per feature "
    "(points of interest by category, roads; with taxonomy v2 also buildings and land use)."
)
SIZE_GUARDS = ("max_cells_per_polygon", "max_cells", "memory_budget")


class _Featurize(S2VecAlgorithm):
    """The featurizing algorithms: one cell layer out."""

    GROUP, GROUP_ID = GROUP, GROUP_ID
    COMMAND = "featurize"
    OUTPUT_LABEL, OUTPUT_HELP = "Featurized cells", OUTPUT_HELP


class FeaturizeOsm(_Featurize):
    """Count OSM points of interest and roads per S2 cell."""

    NAME = "featurizeosm"
    DISPLAY_NAME = "Featurize cells from OpenStreetMap"
    HELP = (
        "Reads points of interest and roads (taxonomy v2: also building footprints and land "
        "use) from an OpenStreetMap file, classifies them with the S2Vec taxonomy and counts "
        "them per S2 cell of the patch level: the feature vectors S2Vec learns from (paper "
        "section 3.1)."
    )
    PBF = "PBF"
    OPTIONS = ("level", "taxonomy", "aoi", *SIZE_GUARDS)

    def inputs(self):
        """The OpenStreetMap file."""
        return [pbf_file(self.PBF)]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The file, as it is."""
        return [self.parameterAsFile(parameters, self.PBF, context)]


class FeaturizeLayer(LayerInput, _Featurize):
    """Count the features of any layer per S2 cell, by a category column."""

    NAME = "featurizelayer"
    DISPLAY_NAME = "Featurize cells from a layer"
    HELP = (
        "Counts the features of any layer (shops from a database, a city's points of "
        "interest, roads, building footprints, land use, ...) per S2 cell of the patch level, "
        "one column per value of the category field. Points count in their cell, lines in "
        "every cell they cross; polygons count as points of interest, or, as buildings or "
        "land use, give each cell the area inside it."
    )
    OPTIONS = ("category_column", "polygons", "level", "taxonomy", "aoi", *SIZE_GUARDS)
    INPUT_LABEL = "Feature layer"
    INPUT_HELP = (
        "Built-environment features (points, lines or polygons) from any provider; tick "
        "'Selected features only' to use the selection. It needs a CRS."
    )
