"""Default styles for the layers the algorithms load into the project.

Cell layers get a light outline; embedding layers a graduated (quantile,
viridis) renderer on their first embedding component, so that neighbouring
places with similar built environments share a colour.
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
    QgsSingleSymbolRenderer,
    QgsStyle,
    QgsVectorLayer,
)

#: Prefix of the embedding columns the engine writes (``emb_000``, ``emb_001``, ...).
EMBEDDING_PREFIX = "emb_"
EMBEDDING_CLASSES = 7
COLOR_RAMP = "Viridis"


def embedding_fields(layer: QgsVectorLayer) -> list[str]:
    """Names of the layer's embedding columns, in component order."""
    numbered = [
        (int(f.name()[len(EMBEDDING_PREFIX) :]), f.name())
        for f in layer.fields()
        if f.name().startswith(EMBEDDING_PREFIX) and f.name()[len(EMBEDDING_PREFIX) :].isdigit()
    ]
    return [name for _, name in sorted(numbered)]


def style_cells(layer: QgsVectorLayer) -> None:
    """Draw cells as a thin dark outline over a faint fill."""
    symbol = QgsFillSymbol.createSimple(
        {"color": "31,119,180,40", "outline_color": "31,41,55,255", "outline_width": "0.2"}
    )
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    layer.triggerRepaint()


def style_embedding(layer: QgsVectorLayer) -> None:
    """Colour cells by their first embedding component (quantile classes, viridis ramp).

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
    renderer = QgsGraduatedSymbolRenderer(fields[0])
    renderer.setClassificationMethod(QgsClassificationQuantile())
    renderer.setSourceColorRamp(QgsStyle.defaultStyle().colorRamp(COLOR_RAMP))
    symbol = QgsFillSymbol.createSimple({"outline_style": "no"})
    renderer.setSourceSymbol(symbol)
    renderer.updateClasses(layer, EMBEDDING_CLASSES)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


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
