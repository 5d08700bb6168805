"""Hand QGIS layers to the engine as files, checked for the mistakes users make.

Any layer QGIS can read (any provider, selected features only, a feature
limit or filter set in the dialog) is written with QGIS's own writer to a
GeoPackage in the run's work folder; the engine reads that file.
"""

from __future__ import annotations

import os

from qgis.core import (
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsProcessingFeedback,
    QgsVectorFileWriter,
)

from .engine import EXPORT_SHARE


def export_source(
    algorithm: QgsProcessingAlgorithm,
    parameters: dict,
    name: str,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
    folder: str,
) -> str:
    """Write the feature source parameter ``name`` to ``<folder>/<name>.gpkg``.

    Parameters
    ----------
    algorithm
        The running algorithm (resolves the parameter).
    parameters, context, feedback
        As passed to ``processAlgorithm``.
    name
        Key of a ``QgsProcessingParameterFeatureSource``.
    folder
        The run's work folder.

    Returns
    -------
    str
        Path of the written GeoPackage, in the layer's own CRS.

    Raises
    ------
    QgsProcessingException
        When the layer has no CRS or no features (after selection).
    """
    source = algorithm.parameterAsSource(parameters, name, context)
    if source is None:
        raise QgsProcessingException(algorithm.invalidSourceError(parameters, name))
    label = algorithm.parameterDefinition(name).description()
    if not source.sourceCrs().isValid():
        raise QgsProcessingException(
            f"The layer given as '{label}' has no coordinate reference system: set one in "
            "Layer Properties > Source > Assigned Coordinate Reference System, then run again."
        )
    path = os.path.join(folder, f"{name.lower()}.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = name.lower()
    options.fileEncoding = "UTF-8"
    writer = QgsVectorFileWriter.create(
        path,
        source.fields(),
        source.wkbType(),
        source.sourceCrs(),
        context.transformContext(),
        options,
    )
    if writer.hasError() != QgsVectorFileWriter.NoError:
        raise QgsProcessingException(
            f"Cannot export '{label}' for the engine: {writer.errorMessage()}"
        )
    total = source.featureCount()
    step = EXPORT_SHARE / total if total > 0 else 0  # the engine's progress fills the rest
    written = 0
    # Geometry repair is the engine's business: it sees exactly what the layer holds.
    features = source.getFeatures(
        QgsFeatureRequest(), QgsProcessingFeatureSource.FlagSkipGeometryValidityChecks
    )
    for feature in features:
        if feedback.isCanceled():
            break
        if not writer.addFeature(feature, QgsFeatureSink.FastInsert):
            raise QgsProcessingException(
                f"Cannot export a feature of '{label}': {writer.errorMessage()}"
            )
        written += 1
        feedback.setProgress(written * step)
    del writer  # closes the file
    if feedback.isCanceled():
        raise QgsProcessingException("Cancelled while exporting the input layer.")
    if written == 0:
        raise QgsProcessingException(
            f"The layer given as '{label}' has no features (or none selected when "
            "'Selected features only' is ticked): choose a layer with features."
        )
    return path
