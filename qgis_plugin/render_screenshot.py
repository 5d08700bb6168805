"""Render an embedding GeoPackage as QGIS draws it, headless: the README's screenshot.

The layer is opened the way a user opens it (``QgsVectorLayer``: QGIS applies
the PCA-RGB style the engine stored in the file) and drawn by QGIS's own map
renderer, offscreen, over a plain background with a title and a scale line.
Run it with QGIS's Python (not the engine's)::

    make demo   # writes out/helsinki.gpkg with the engine
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 qgis_plugin/render_screenshot.py \\
        out/helsinki.gpkg docs/img/qgis_pca_rgb.png

Nothing of the plugin is imported: what is shown is the file's own style.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QRectF, QSize, Qt
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter, QPen

WEB_MERCATOR = "EPSG:3857"
WIDTH, HEIGHT, MARGIN = 1200, 900, 0.03
TITLE_PX, FOOTER_PX = 64, 40


def open_styled(path: Path) -> QgsVectorLayer:
    """The layer as QGIS opens it, with the default style stored in the file."""
    layer = QgsVectorLayer(str(path), path.stem, "ogr")
    if not layer.isValid():
        sys.exit(f"QGIS cannot open {path}; pass a GeoPackage written by `s2vec embed`/`s2vec run`")
    if layer.fields().indexOf("pca_rgb") < 0:
        sys.exit(f"{path} has no pca_rgb column; write it with this s2vec-geo (s2vec embed)")
    return layer


def map_image(layer: QgsVectorLayer, size: QSize) -> tuple[QImage, float]:
    """The layer in Web Mercator, filling ``size`` with a small margin; ground metres a pixel.

    Web Mercator stretches lengths by 1 / cos(latitude); the scale is that of
    the map's centre.
    """
    settings = QgsMapSettings()
    settings.setLayers([layer])
    crs = QgsCoordinateReferenceSystem(WEB_MERCATOR)
    settings.setDestinationCrs(crs)
    transform = QgsCoordinateTransform(layer.crs(), crs, QgsProject.instance())
    extent = QgsRectangle(transform.transformBoundingBox(layer.extent()))
    extent.grow(MARGIN * max(extent.width(), extent.height()))
    settings.setExtent(extent)
    settings.setOutputSize(size)
    settings.setBackgroundColor(QColor("white"))
    settings.setFlag(QgsMapSettings.Antialiasing, True)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    latitude = math.radians(layer.extent().center().y())
    return job.renderedImage(), settings.mapUnitsPerPixel() * math.cos(latitude)


def scale_bar(metres_per_pixel: float) -> tuple[float, float]:
    """A round ground length (m) about a fifth of the map wide, and its length in pixels."""
    target = WIDTH / 5 * metres_per_pixel
    step = 10 ** math.floor(math.log10(target))
    metres = max(m * step for m in (1, 2, 5) if m * step <= target)
    return metres, metres / metres_per_pixel


def compose(layer: QgsVectorLayer, out: Path) -> Path:
    """Title above, the map, a scale line and the source below; written as PNG."""
    picture, metres_per_pixel = map_image(layer, QSize(WIDTH, HEIGHT - TITLE_PX - FOOTER_PX))
    canvas = QImage(WIDTH, HEIGHT, QImage.Format_ARGB32)
    canvas.fill(QColor("white"))
    painter = QPainter(canvas)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setPen(QColor(31, 41, 55))
    painter.setFont(QFont("DejaVu Sans", 17, QFont.Bold))
    title = f"S2Vec embeddings in QGIS: {layer.featureCount():,} cells, first 3 PCs as RGB"
    painter.drawText(QRectF(0, 0, WIDTH, TITLE_PX), Qt.AlignCenter, title)
    painter.drawImage(0, TITLE_PX, picture)
    metres, pixels = scale_bar(metres_per_pixel)
    y = HEIGHT - FOOTER_PX / 2
    painter.setPen(QPen(QColor(31, 41, 55), 3))
    painter.drawLine(24, int(y), int(24 + pixels), int(y))
    painter.setFont(QFont("DejaVu Sans", 12))
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    painter.drawText(int(36 + pixels), int(y + 6), label)
    source = f"{Path(layer.source().split('|')[0]).name}, drawn with the style stored in it"
    painter.drawText(QRectF(0, y - 12, WIDTH - 24, 24), Qt.AlignRight | Qt.AlignVCenter, source)
    painter.end()
    if not canvas.save(str(out)):
        sys.exit(f"cannot write {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gpkg", type=Path, help="embedding GeoPackage written by the engine")
    parser.add_argument("png", type=Path, help="image to write")
    args = parser.parse_args()
    app = QgsApplication([], False)
    app.initQgis()
    layer = open_styled(args.gpkg)
    print(compose(layer, args.png))
    del layer  # before exitQgis, or QGIS crashes at exit
    app.exitQgis()


if __name__ == "__main__":
    main()
