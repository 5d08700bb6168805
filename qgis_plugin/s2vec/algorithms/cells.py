"""Cells group: S2 cells covering a layer or an extent (``cover``), the cell of every point
(``cells``)."""

from __future__ import annotations

import os

from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterExtent,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from ..styles import style_cells
from .base import LayerInput, S2VecAlgorithm
from .params import LON_LAT, with_help

GROUP, GROUP_ID = "Cells", "cells"
OUTPUT_HELP = "GeoPackage of the cells: cell_id (int64 S2 id), token (hex id), cell polygon."


class _Cover(S2VecAlgorithm):
    """The covering algorithms: cells of one level, styled when loaded."""

    GROUP, GROUP_ID = GROUP, GROUP_ID
    COMMAND = "cover"
    OPTIONS = ("level", "max_cells", "memory_budget")
    STYLE = staticmethod(style_cells)
    OUTPUT_LABEL, OUTPUT_HELP = "S2 cells", OUTPUT_HELP


class CoverLayer(LayerInput, _Cover):
    """S2 cells at one level covering the polygons (or lines, points) of a layer."""

    NAME = "cover"
    DISPLAY_NAME = "S2 cells covering a layer"
    HELP = (
        "Covers the features of a layer with S2 cells of one level: polygons exactly "
        "(holes included), lines by the cells they cross, points by their containing cell. "
        "The result is one polygon per cell, in EPSG:4326, identified by the S2 cell id."
    )
    INPUT_LABEL = "Area layer"
    INPUT_HELP = (
        "Layer to cover (any provider; tick 'Selected features only' to cover the selection). "
        "It needs a coordinate reference system."
    )


class CoverExtent(_Cover):
    """S2 cells at one level covering a rectangular extent."""

    NAME = "coverextent"
    DISPLAY_NAME = "S2 cells covering an extent"
    HELP = (
        "Covers an extent (drawn on the map, or taken from a layer) with S2 cells of one "
        "level. The result is one polygon per cell, in EPSG:4326."
    )
    EXTENT = "EXTENT"

    def inputs(self):
        """The extent."""
        return [
            with_help(
                QgsProcessingParameterExtent(self.EXTENT, "Extent"),
                "Rectangle to cover, in any CRS (it is reprojected to longitude/latitude).",
            )
        ]

    def engine_inputs(self, parameters, context, feedback, folder):
        """The extent, written as a polygon."""
        extent = self.parameterAsExtentGeometry(parameters, self.EXTENT, context, LON_LAT)
        if extent is None or extent.isEmpty():
            raise QgsProcessingException(
                "The extent is empty: draw a rectangle on the map or pick a layer's extent."
            )
        return [_write_polygon(extent, os.path.join(folder, "extent.gpkg"), LON_LAT, context)]


class PointCells(LayerInput):
    """The S2 cell of every point of a layer (``s2vec cells``)."""

    NAME = "cells"
    DISPLAY_NAME = "S2 cell of every point"
    GROUP, GROUP_ID = GROUP, GROUP_ID
    HELP = (
        "Gives every point of a layer the S2 cell at one level that contains it: the layer "
        "comes back with its fields and geometry plus cell_id (the int64 S2 cell id) and token "
        "(its hex form), e.g. to join points with any table keyed by S2 cells."
    )
    COMMAND = "cells"
    OPTIONS = ("level",)
    INPUT_LABEL = "Point layer"
    INPUT_HELP = (
        "Points from any provider, in any CRS (tick 'Selected features only' to use the "
        "selection). It needs a coordinate reference system."
    )
    INPUT_KIND = QgsProcessing.TypeVectorPoint
    OUTPUT_POLYGONS, OUTPUT_LABEL = False, "Points with cells"
    OUTPUT_HELP = "The points with their fields plus cell_id and token."


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
