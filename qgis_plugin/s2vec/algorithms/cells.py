"""Cells group: S2 cells covering a polygon layer or an extent (engine command ``cover``)."""

from __future__ import annotations

import os

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterVectorDestination,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from ..engine import option, workspace
from ..layers import export_source
from ..styles import style_cells, style_on_load
from .base import S2VecAlgorithm, level_parameter, run_to_destination, with_help

GROUP, GROUP_ID = "Cells", "cells"
LEVEL_HELP = (
    "S2 level of the cells, 0 (a sixth of the Earth) to 30 (about 1 cm2). Level 12 cells are "
    "about 5 km2 (the paper's patches); for a city centre use 15-17."
)
OUTPUT_HELP = "GeoPackage of the cells: cell_id (int64 S2 id), token (hex id), cell polygon."


class CoverLayer(S2VecAlgorithm):
    """S2 cells at one level covering the polygons (or lines, points) of a layer."""

    NAME = "cover"
    DISPLAY_NAME = "S2 cells covering a layer"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Covers the features of a layer with S2 cells of one level: polygons exactly "
        "(holes included), lines by the cells they cross, points by their containing cell. "
        "The result is one polygon per cell, in EPSG:4326, identified by the S2 cell id."
    )
    INPUT, LEVEL, OUTPUT = "INPUT", "LEVEL", "OUTPUT"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """Input layer, level and output cells."""
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSource(
                    self.INPUT, self.tr("Area layer"), [QgsProcessing.TypeVectorAnyGeometry]
                ),
                "Layer to cover (any provider; tick 'Selected features only' to cover the "
                "selection). It needs a coordinate reference system.",
            )
        )
        _add_level_and_cells(self)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Export the layer, run ``s2vec cover``, deliver the cells."""
        level = self.parameterAsInt(parameters, self.LEVEL, context)
        destination = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with workspace() as folder:
            area = export_source(self, parameters, self.INPUT, context, feedback, folder)
            args = [area, option("--level", level)]
            run_to_destination("cover", args, destination, folder, feedback)
        style_on_load(context, destination, style_cells)
        return {self.OUTPUT: destination}


class CoverExtent(S2VecAlgorithm):
    """S2 cells at one level covering a rectangular extent."""

    NAME = "coverextent"
    DISPLAY_NAME = "S2 cells covering an extent"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Covers an extent (drawn on the map, or taken from a layer) with S2 cells of one "
        "level. The result is one polygon per cell, in EPSG:4326."
    )
    EXTENT, LEVEL, OUTPUT = "EXTENT", "LEVEL", "OUTPUT"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS API)
        """Extent, level and output cells."""
        self.addParameter(
            with_help(
                QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent")),
                "Rectangle to cover, in any CRS (it is reprojected to longitude/latitude).",
            )
        )
        _add_level_and_cells(self)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Write the extent as a polygon, run ``s2vec cover``, deliver the cells."""
        wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
        extent = self.parameterAsExtentGeometry(parameters, self.EXTENT, context, wgs84)
        if extent is None or extent.isEmpty():
            raise QgsProcessingException(
                "The extent is empty: draw a rectangle on the map or pick a layer's extent."
            )
        level = self.parameterAsInt(parameters, self.LEVEL, context)
        destination = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with workspace() as folder:
            area = _write_polygon(extent, os.path.join(folder, "extent.gpkg"), wgs84, context)
            args = [area, option("--level", level)]
            run_to_destination("cover", args, destination, folder, feedback)
        style_on_load(context, destination, style_cells)
        return {self.OUTPUT: destination}


def _add_level_and_cells(alg: S2VecAlgorithm) -> None:
    """The S2 level and the output cell layer, shared by the covering algorithms."""
    alg.addParameter(level_parameter(alg.LEVEL, alg.tr("S2 level"), 14, LEVEL_HELP))
    alg.addParameter(
        with_help(
            QgsProcessingParameterVectorDestination(
                alg.OUTPUT, alg.tr("S2 cells"), QgsProcessing.TypeVectorPolygon
            ),
            OUTPUT_HELP,
        )
    )


def _write_polygon(geometry: QgsGeometry, path: str, crs, context) -> str:
    """Write one polygon to a GeoPackage with QGIS's writer."""
    layer = QgsVectorLayer(f"Polygon?crs={crs.authid()}", "extent", "memory")
    feature = QgsFeature()
    feature.setGeometry(geometry)
    layer.dataProvider().addFeatures([feature])
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, path, context.transformContext(), options
    )
    if error[0] != QgsVectorFileWriter.NoError:
        raise QgsProcessingException(f"Cannot write the extent for the engine: {error[1]}")
    return path
