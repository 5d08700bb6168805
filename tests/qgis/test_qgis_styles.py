"""Engine outputs open in QGIS styled from the file itself, and without GDAL warnings.

The engine (its own Python, as in real use) writes the layers; QGIS 3.22
(GDAL 3.6) opens them as any user would, with ``QgsVectorLayer``: no plugin
code runs until the plugin's own load-time styling is tested last.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "qgis.core",
    reason="QGIS Python bindings not installed (apt-get install qgis python3-qgis "
    "qgis-providers; see qgis_plugin/README.md)",
)
pytest.importorskip("pytest_qgis", reason="pytest-qgis not installed (pip install pytest-qgis)")

from osgeo import gdal
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransformContext,
    QgsFeatureRenderer,
    QgsFields,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsPointXY,
    QgsSymbolLayer,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage
from qgis_helpers import REPO, engine_interpreter, run_library

PARTLY_SUPPORTED = "may only be partially supported"

WRITE = """
import json, sys, numpy as np, pandas as pd, geopandas as gpd, s2vec_geo as sv
folder = sys.argv[1]
cells = sv.cells_frame(sv.cell_children(sv.latlng_to_cell(60.17, 24.94, 12), 15))
rng = np.random.default_rng(0)
values = rng.normal(size=(len(cells), 8)).cumsum(axis=0).astype("float32")  # smooth-ish
emb = cells.join(pd.DataFrame(values, index=cells.index).add_prefix("emb_00"))
sv.write_layer(emb, folder + "/emb.gpkg")
sv.write_layer(sv.cells_frame(cells.index.to_numpy()), folder + "/cells.gpkg")
emb.reset_index().to_file(folder + "/plain.gpkg", engine="pyogrio")  # GDAL's defaults, no style
lat, lng = sv.cell_to_latlng(cells.index.to_numpy()[:6])
points = gpd.GeoDataFrame({"n": range(6)}, geometry=gpd.points_from_xy(lng, lat), crs=4326)
sv.write_layer(points, folder + "/points.gpkg")
print(json.dumps(1))
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """An embedding layer, a cell layer and joined points written by the engine."""
    folder = tmp_path_factory.mktemp("styled")
    run_library(f"import sys; sys.argv = ['', {str(folder)!r}]\n" + WRITE)
    subprocess.run(
        [engine_interpreter(), "-m", "s2vec_geo", "join", str(folder / "points.gpkg"),
         "--embeddings", str(folder / "emb.gpkg"), "-o", str(folder / "joined.gpkg")],
        check=True, cwd=REPO, capture_output=True,
    )  # fmt: skip
    return folder


class GdalMessages:
    """Every message GDAL (and QGIS's log) gives while the block runs."""

    def __enter__(self) -> list[str]:
        self.messages: list[str] = []
        gdal.PushErrorHandler(lambda _cls, _no, text: self.messages.append(text))
        QgsApplication.messageLog().messageReceived.connect(self.logged)
        return self.messages

    def logged(self, text: str, tag: str, _level) -> None:
        self.messages.append(f"{tag}: {text}")

    def __exit__(self, *exc) -> None:
        QgsApplication.messageLog().messageReceived.disconnect(self.logged)
        gdal.PopErrorHandler()


def opened(path: Path) -> tuple[QgsVectorLayer, list[str]]:
    """The layer as a user opens it, all its features read, and what GDAL said meanwhile."""
    with GdalMessages() as messages:
        layer = QgsVectorLayer(str(path), path.stem, "ogr")
        assert layer.isValid(), f"QGIS cannot open {path}"
        assert sum(1 for _ in layer.getFeatures()) == layer.featureCount() > 0
    return layer, messages


def colour_source(layer: QgsVectorLayer, key) -> str:
    """The field the colour of rows with an embedding reads ('' when none).

    An embedding layer's renderer has two rules: the PCA-RGB colour, else "no embedding".
    """
    renderer = layer.renderer()
    assert renderer.type() == "RuleRenderer", renderer.type()
    coloured, rest = renderer.rootRule().children()
    assert rest.isElse() and rest.label() == "no embedding"
    prop = coloured.symbol().symbolLayer(0).dataDefinedProperties().property(key)
    return prop.field() if prop.isActive() else ""


def render(layer: QgsVectorLayer, size: int = 400):
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage(), settings.mapToPixel()


def test_engine_geopackages_open_without_gdal_warnings(written) -> None:
    for name in ("emb", "cells", "joined"):
        layer, messages = opened(written / f"{name}.gpkg")
        del layer
        assert messages == [], f"{name}.gpkg: {messages}"
    # the same table as GDAL's defaults write it is read with the warning users saw
    layer, messages = opened(written / "plain.gpkg")
    del layer
    assert any(PARTLY_SUPPORTED in m for m in messages), messages


def test_embedding_layer_opens_in_its_pca_colours(written) -> None:
    layer, _ = opened(written / "emb.gpkg")
    assert colour_source(layer, QgsSymbolLayer.PropertyFillColor) == "pca_rgb"
    image, to_pixel = render(layer)
    checked = 0
    for feature in layer.getFeatures():
        centre = feature.geometry().pointOnSurface().asPoint()
        pixel = to_pixel.transform(QgsPointXY(centre))
        drawn = image.pixelColor(round(pixel.x()), round(pixel.y())).name()
        assert drawn == feature["pca_rgb"], f"cell {feature['token']}"
        checked += 1
    colours = {f["pca_rgb"] for f in layer.getFeatures()}
    del layer
    assert checked == 64 and len(colours) > 32, "the cells are not told apart by colour"


def test_cell_layers_and_joined_points_get_their_own_styles(written) -> None:
    cells, _ = opened(written / "cells.gpkg")
    symbol = cells.renderer().symbol()
    assert symbol.type() == 2 and symbol.symbolLayer(0).strokeColor().name() == "#1f2937"  # fill
    joined, _ = opened(written / "joined.gpkg")
    assert joined.geometryType() == QgsWkbTypes.PointGeometry
    assert joined.renderer().rootRule().children()[0].symbol().type() == 0  # marker
    assert colour_source(joined, QgsSymbolLayer.PropertyFillColor) == "pca_rgb"
    assert {f["pca_rgb"][0] for f in joined.getFeatures()} == {"#"}
    del cells, joined


def qgis_styled(folder: Path) -> Path:
    """A GeoPackage QGIS wrote, with a style QGIS saved in it: the reference."""
    path = folder / "reference.gpkg"
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName, options.layerName = "GPKG", "reference"
    writer = QgsVectorFileWriter.create(
        str(path),
        QgsFields(),
        QgsWkbTypes.Polygon,
        QgsCoordinateReferenceSystem("EPSG:4326"),
        QgsCoordinateTransformContext(),
        options,
    )
    del writer
    layer = QgsVectorLayer(f"{path}|layername=reference", "reference", "ogr")
    assert layer.saveStyleToDatabase("by QGIS", "", True, "") == ""
    del layer
    return path


def schema(path: Path) -> tuple[list[tuple], str, list[str]]:
    """``layer_styles``' columns (name, type, default), its gpkg_contents type, its triggers."""
    with sqlite3.connect(path) as db:
        columns = [row[1:3] + row[4:5] for row in db.execute("PRAGMA table_info(layer_styles)")]
        [(kind,)] = db.execute(
            "SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchall()
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?"
        triggers = sorted(name for (name,) in db.execute(query, ("layer_styles",)))
    return columns, kind, triggers


def test_the_style_table_is_the_one_qgis_writes(written, tmp_path) -> None:
    assert schema(written / "emb.gpkg") == schema(qgis_styled(tmp_path))
    layer = QgsVectorLayer(str(written / "emb.gpkg"), "emb", "ogr")
    count, _, names, _, _ = layer.listStylesInDatabase()
    assert (count, names) == (1, ["pca_rgb_fill"])
    assert layer.saveStyleToDatabase("mine", "", False, "") == ""  # QGIS adds to our table
    assert layer.listStylesInDatabase()[0] == 2
    del layer
    again = QgsVectorLayer(str(written / "emb.gpkg"), "emb", "ogr")
    assert colour_source(again, QgsSymbolLayer.PropertyFillColor) == "pca_rgb"
    del again


def test_plugin_styling_keeps_the_stored_style_and_styles_files_without_one(
    provider, written, tmp_path
) -> None:
    from s2vec.styles import style_cells, style_embedding

    layer, _ = opened(written / "emb.gpkg")
    layer.setRenderer(QgsFeatureRenderer.defaultRenderer(layer.geometryType()))
    style_embedding(layer)
    assert colour_source(layer, QgsSymbolLayer.PropertyFillColor) == "pca_rgb"
    cells, _ = opened(written / "cells.gpkg")
    cells.setRenderer(QgsFeatureRenderer.defaultRenderer(cells.geometryType()))
    style_cells(cells)
    assert cells.renderer().symbol().symbolLayer(0).strokeColor().name() == "#1f2937"
    unstyled = tmp_path / "unstyled.gpkg"  # pca_rgb column, no stored style
    unstyled.write_bytes((written / "emb.gpkg").read_bytes())
    with sqlite3.connect(unstyled) as db:
        db.execute("DELETE FROM layer_styles")
    bare, _ = opened(unstyled)
    style_embedding(bare)
    assert colour_source(bare, QgsSymbolLayer.PropertyFillColor) == "pca_rgb"
    plain, _ = opened(written / "plain.gpkg")  # no style, no pca_rgb column
    style_embedding(plain)
    assert plain.renderer().type() == "graduatedSymbol"
    assert plain.renderer().classAttribute() == "emb_000"
    del layer, cells, bare, plain


def test_the_readme_screenshot_script_draws_the_cells_in_colour(written, tmp_path) -> None:
    png = tmp_path / "shot.png"
    script = REPO / "qgis_plugin" / "render_screenshot.py"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run([sys.executable, str(script), str(written / "emb.gpkg"), str(png)], env=env,
                   check=True, capture_output=True)  # fmt: skip
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1200, 900)
    colours = {image.pixelColor(x, y).name() for x in range(0, 1200, 6) for y in range(80, 850, 6)}
    assert len(colours) > 40, "the screenshot shows no coloured cells"


NO_DATA = """
import json, sys, shapely, geopandas as gpd, s2vec_geo as sv
folder = sys.argv[1]
emb = sv.read_cell_layer(folder + "/emb.gpkg")
box = emb.geometry.union_all().bounds
near = [shapely.box(box[0], box[1], box[2], box[3]).centroid.buffer(0.001)]
far = [shapely.Point(box[2] + 0.01 + i * 0.004, box[1]).buffer(0.001) for i in range(3)]
polygons = gpd.GeoDataFrame({"n": range(4)}, geometry=near + far, crs=4326)
polygons.to_file(folder + "/polygons.gpkg", engine="pyogrio")
print(json.dumps(1))
"""


def test_rows_without_an_embedding_are_grey_not_blue(provider, written, tmp_path) -> None:
    """A joined layer's rows where no cell was embedded are drawn neutral grey, in the stored
    style and in the plugin's load-time style, with a legend entry "no embedding"."""
    from s2vec.styles import style_embedding

    run_library(f"import sys; sys.argv = ['', {str(tmp_path)!r}]\n" + NO_DATA.replace(
        'folder + "/emb.gpkg"', repr(str(written / "emb.gpkg"))))  # fmt: skip
    joined = tmp_path / "joined.gpkg"
    subprocess.run(
        [engine_interpreter(), "-m", "s2vec_geo", "join", str(tmp_path / "polygons.gpkg"),
         "--embeddings", str(written / "emb.gpkg"), "-o", str(joined)],
        check=True, cwd=REPO, capture_output=True,
    )  # fmt: skip
    stored, _ = opened(joined)
    bare = tmp_path / "bare.gpkg"
    bare.write_bytes(joined.read_bytes())
    with sqlite3.connect(bare) as db:
        db.execute("DELETE FROM layer_styles")
    loaded, _ = opened(bare)
    style_embedding(loaded)
    for layer in (stored, loaded):
        legend = [item.label() for item in layer.renderer().legendSymbolItems()]
        assert "no embedding" in legend, legend
        image, to_pixel = render(layer)
        missing = {f.id() for f in layer.getFeatures() if f["pca_rgb"] in (None, "")}
        assert len(missing) == 3, "the far polygons should have no embedding"
        for feature in layer.getFeatures():
            centre = to_pixel.transform(feature.geometry().pointOnSurface().asPoint())
            drawn = image.pixelColor(round(centre.x()), round(centre.y()))
            if feature.id() in missing:
                spread = max(drawn.red(), drawn.green(), drawn.blue()) - min(
                    drawn.red(), drawn.green(), drawn.blue())  # fmt: skip
                assert spread < 8 and drawn.red() > 150, f"no-data row drawn {drawn.name()}"
            else:
                assert drawn.name() == feature["pca_rgb"]
    del stored, loaded
