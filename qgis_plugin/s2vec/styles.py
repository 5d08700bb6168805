"""Default styles for the layers the algorithms load into the project.

The engine stores each layer's style in its GeoPackage (the ``layer_styles``
table): embedding layers are drawn in their PCA-RGB colours (the ``pca_rgb``
column, first three principal components as RGB), cell layers as a light
outline. A layer with a stored default style keeps it. Files written without
one (an older engine, another tool) are styled here alike: through their
``pca_rgb`` column when they have it, otherwise a graduated (quantile,
viridis) renderer on the first embedding component.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from qgis.core import (
    QgsClassificationQuantile,
    QgsFillSymbol,
    QgsGraduatedSymbolRenderer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProperty,
    QgsRuleBasedRenderer,
    QgsSingleSymbolRenderer,
    QgsStyle,
    QgsSymbol,
    QgsSymbolLayer,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor

#: Prefix of the embedding columns the engine writes (``emb_000``, ``emb_001``, ...).
EMBEDDING_PREFIX = "emb_"
#: The engine's colour column of embedding layers (``#rrggbb``; s2vec_geo.core.schema.PCA_RGB).
PCA_RGB = "pca_rgb"
EMBEDDING_CLASSES = 7
NO_DATA_LABEL, COLOURED_LABEL = "no embedding", "PCA-RGB colour of the embedding"
NO_DATA_RGBA = (190, 190, 190, 140)
"""Rows without an embedding: a light, half-transparent neutral grey (as the stored style)."""
COLOR_RAMP = "Viridis"


def embedding_fields(layer: QgsVectorLayer) -> list[str]:
    """Names of the layer's embedding columns, in component order."""
    numbered = [
        (int(f.name()[len(EMBEDDING_PREFIX) :]), f.name())
        for f in layer.fields()
        if f.name().startswith(EMBEDDING_PREFIX) and f.name()[len(EMBEDDING_PREFIX) :].isdigit()
    ]
    return [name for _, name in sorted(numbered)]


def stored_style(layer: QgsVectorLayer) -> bool:
    """Apply the default style stored with the layer (its GeoPackage); whether it had one."""
    _, loaded = layer.loadDefaultStyle()
    if loaded:
        layer.triggerRepaint()
    return loaded


def style_cells(layer: QgsVectorLayer) -> None:
    """The stored style, else cells as a thin dark outline over a faint fill."""
    if stored_style(layer):
        return
    symbol = QgsFillSymbol.createSimple(
        {"color": "31,119,180,40", "outline_color": "31,41,55,255", "outline_width": "0.2"}
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    layer.triggerRepaint()


def style_embedding(layer: QgsVectorLayer) -> None:
    """The stored style, else PCA-RGB colours (``pca_rgb``), else a ramp on ``emb_000``.

    Raises
    ------
    ValueError
        When the layer has no ``emb_*`` column.
    """
    fields = embedding_fields(layer)
    if not fields:
        raise ValueError(
            f"layer {layer.name()!r} has no {EMBEDDING_PREFIX}* columns; style an embedding "
            "layer written by 'Embed cells' or 'Whole pipeline'"
        )
    if stored_style(layer):
        return
    lines = layer.geometryType() == QgsWkbTypes.LineGeometry
    symbol = QgsSymbol.defaultSymbol(layer.geometryType())
    if not lines:
        symbol.symbolLayer(0).setStrokeStyle(Qt.NoPen)
    if layer.fields().indexOf(PCA_RGB) >= 0:
        key = QgsSymbolLayer.PropertyStrokeColor if lines else QgsSymbolLayer.PropertyFillColor
        symbol.symbolLayer(0).setDataDefinedProperty(key, QgsProperty.fromField(PCA_RGB))
        layer.setRenderer(with_no_data(symbol, layer.geometryType()))
    else:
        renderer = QgsGraduatedSymbolRenderer(fields[0])
        renderer.setClassificationMethod(QgsClassificationQuantile())
        renderer.setSourceColorRamp(QgsStyle.defaultStyle().colorRamp(COLOR_RAMP))
        renderer.setSourceSymbol(symbol)
        renderer.updateClasses(layer, EMBEDDING_CLASSES)
        layer.setRenderer(renderer)
    layer.triggerRepaint()


def with_no_data(symbol: QgsSymbol, geometry_type: int) -> QgsRuleBasedRenderer:
    """``symbol`` for rows with a colour, neutral grey ("no embedding" in the legend) for the rest.

    Rows without an embedding (a joined feature where no cell was embedded)
    have no ``pca_rgb``; without this rule they would get the symbol's own colour.
    """
    root = QgsRuleBasedRenderer.Rule(None)
    coloured = f'"{PCA_RGB}" IS NOT NULL'
    root.appendChild(QgsRuleBasedRenderer.Rule(symbol, 0, 0, coloured, COLOURED_LABEL))
    grey = QgsSymbol.defaultSymbol(geometry_type)
    grey.setColor(QColor(*NO_DATA_RGBA))
    root.appendChild(QgsRuleBasedRenderer.Rule(grey, 0, 0, "", NO_DATA_LABEL, "", True))
    return QgsRuleBasedRenderer(root)


class StylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies a style function to an output layer once Processing loads it."""

    _instances: ClassVar[dict[Callable[[QgsVectorLayer], None], StylePostProcessor]] = {}

    def __init__(self, style: Callable[[QgsVectorLayer], None]) -> None:
        super().__init__()
        self.style = style

    def postProcessLayer(  # noqa: N802 (QGIS API)
        self, layer: QgsVectorLayer, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> None:
        """Style ``layer`` (called by Processing in the main thread)."""
        if isinstance(layer, QgsVectorLayer):
            self.style(layer)

    @classmethod
    def create(cls, style: Callable[[QgsVectorLayer], None]) -> StylePostProcessor:
        """One long-lived instance per style: Processing does not keep Python objects alive."""
        if style not in cls._instances:
            cls._instances[style] = cls(style)
        return cls._instances[style]


def style_on_load(
    context: QgsProcessingContext, path: str, style: Callable[[QgsVectorLayer], None]
) -> None:
    """Ask Processing to apply ``style`` to the output ``path`` when it loads it."""
    if context.willLoadLayerOnCompletion(path):
        details = context.layerToLoadOnCompletionDetails(path)
        details.setPostProcessor(StylePostProcessor.create(style))
