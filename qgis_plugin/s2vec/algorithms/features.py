"""Features group: count built-environment features per S2 cell (engine command ``featurize``)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
)

from ..engine import option, workspace
from ..layers import export_source
from .base import S2VecAlgorithm, optional_source, run_to_destination, with_help
from .params import (
    POLYGON_KINDS,
    area_of_interest,
    layer_output,
    patch_level,
    pbf_file,
    polygon_kind,
    taxonomy,
    taxonomy_args,
)

GROUP, GROUP_ID = "Features", "features"
OUTPUT_HELP = (
    "GeoPackage with one polygon per patch cell: cell_id, token and one column per feature "
    "(points of interest by category, roads; with taxonomy v2 also buildings and land use)."
)


class FeaturizeOsm(S2VecAlgorithm):
    """Count OSM points of interest and roads per S2 cell."""

    NAME = "featurizeosm"
    DISPLAY_NAME = "Featurize cells from OpenStreetMap"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Reads points of interest and roads (taxonomy v2: also building footprints and land "
        "use) from an OpenStreetMap file, classifies them with the S2Vec taxonomy and counts "
        "them per S2 cell of the patch level: the feature vectors S2Vec learns from (paper "
        "section 3.1)."
    )
    PBF, LEVEL, TAXONOMY, AOI, OUTPUT = "PBF", "LEVEL", "TAXONOMY", "AOI", "OUTPUT"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """OSM file, level, taxonomy, optional area, output cells."""
        self.addParameter(pbf_file(self.PBF))
        self.addParameter(patch_level(self.LEVEL))
        self.addParameter(taxonomy(self.TAXONOMY))
        self.addParameter(area_of_interest(self.AOI))
        self.addParameter(layer_output(self.OUTPUT, "Featurized cells", OUTPUT_HELP))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Run ``s2vec featurize`` on the OSM file."""
        pbf = self.parameterAsFile(parameters, self.PBF, context)
        level = self.parameterAsInt(parameters, self.LEVEL, context)
        chosen = taxonomy_args(self.parameterAsEnum(parameters, self.TAXONOMY, context))
        destination = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with workspace() as folder:
            aoi = optional_source(self, parameters, self.AOI, context, feedback, folder, "--aoi")
            args = [pbf, option("--level", level), *chosen, *aoi]
            run_to_destination("featurize", args, destination, folder, feedback)
        return {self.OUTPUT: destination}


class FeaturizeLayer(S2VecAlgorithm):
    """Count the features of any layer per S2 cell, by a category column."""

    NAME = "featurizelayer"
    DISPLAY_NAME = "Featurize cells from a layer"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Counts the features of any layer (shops from a database, a city's points of "
        "interest, roads, building footprints, land use, ...) per S2 cell of the patch level, "
        "one column per value of the category field. Points count in their cell, lines in "
        "every cell they cross; polygons count as points of interest, or, as buildings or "
        "land use, give each cell the area inside it."
    )
    INPUT, CATEGORY, LEVEL, AOI, OUTPUT = "INPUT", "CATEGORY", "LEVEL", "AOI", "OUTPUT"
    POLYGONS, TAXONOMY = "POLYGONS", "TAXONOMY"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """Feature layer, category field, level, optional area, output cells."""
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSource(
                    self.INPUT, "Feature layer", [QgsProcessing.TypeVectorAnyGeometry]
                ),
                "Built-environment features (points, lines or polygons) from any provider; "
                "tick 'Selected features only' to use the selection. It needs a CRS.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterField(
                    self.CATEGORY,
                    "Category field",
                    parentLayerParameterName=self.INPUT,
                    type=QgsProcessingParameterField.String,
                ),
                "Field whose values are the feature categories (one count column each).",
            )
        )
        self.addParameter(polygon_kind(self.POLYGONS))
        self.addParameter(patch_level(self.LEVEL))
        self.addParameter(taxonomy(self.TAXONOMY, own_categories=True))
        self.addParameter(area_of_interest(self.AOI))
        self.addParameter(layer_output(self.OUTPUT, "Featurized cells", OUTPUT_HELP))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Export the layer, run ``s2vec featurize``."""
        category = self.parameterAsFields(parameters, self.CATEGORY, context)[0]
        level = self.parameterAsInt(parameters, self.LEVEL, context)
        polygons = POLYGON_KINDS[self.parameterAsEnum(parameters, self.POLYGONS, context)]
        chosen = self.parameterAsEnum(parameters, self.TAXONOMY, context)
        options = ["--polygons", polygons, *taxonomy_args(chosen, own_categories=True)]
        destination = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with workspace() as folder:
            source = export_source(self, parameters, self.INPUT, context, feedback, folder)
            aoi = optional_source(self, parameters, self.AOI, context, feedback, folder, "--aoi")
            args = [source, option("--level", level), option("--category-column", category)]
            args += [*options, *aoi]
            run_to_destination("featurize", args, destination, folder, feedback)
        return {self.OUTPUT: destination}
