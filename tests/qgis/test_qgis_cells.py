"""The cover algorithms through Processing and qgis_process, bad input, and Cancel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip(
    "qgis.core",
    reason="QGIS Python bindings not installed (apt-get install qgis python3-qgis "
    "qgis-providers; see qgis_plugin/README.md)",
)
pytest.importorskip("pytest_qgis", reason="pytest-qgis not installed (pip install pytest-qgis)")

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsGeometry,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProject,
    QgsVectorLayer,
)
from qgis_helpers import QGIS_PROCESS, REPO, field_values, qgis_process, run_library

LEVEL = 16


def library_cover(path: Path, level: int, where: str = "") -> set[int]:
    """Cell ids the s2vec-geo library gives for the same file."""
    ids = run_library(
        "import json; from s2vec_geo.io.layers import read_layer; from s2vec_geo.s2 import cover; "
        f"g = read_layer({str(path)!r}); g = g{where}; "
        f"print(json.dumps([int(c) for c in cover(g, {level})]))"
    )
    return set(ids)


def test_cover_matches_library(run_algorithm, load_layer, sample_polygons, tmp_path):
    out = tmp_path / "cells.gpkg"
    results, _ = run_algorithm(
        "cover", {"INPUT": str(sample_polygons), "LEVEL": LEVEL, "OUTPUT": str(out)}
    )
    assert results["OUTPUT"] == str(out)
    layer = load_layer(out)
    assert {"cell_id", "token"} <= set(layer.fields().names())
    ids = field_values(layer, "cell_id")
    assert len(ids) == len(set(ids)) > 10
    assert set(ids) == library_cover(sample_polygons, LEVEL)
    assert layer.crs().authid() == "EPSG:4326"
    assert not [p for p in tmp_path.iterdir() if p != out], "work files left beside the output"


def test_cover_selected_features_only(run_algorithm, load_layer, sample_polygons, tmp_path):
    layer = QgsVectorLayer(str(sample_polygons), "polygons", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        # parks whose geometry the library reads as is (the sample holds broken rings too)
        readable = set(
            run_library(
                "import json; from s2vec_geo.io.layers import read_layer; "
                f"g = read_layer({str(sample_polygons)!r}); "
                "print(json.dumps(g[g['leisure'] == 'park']['osm_way_id'].dropna().tolist()))"
            )
        )
        parks = [
            f.id()
            for f in layer.getFeatures()
            if f["leisure"] == "park" and f["osm_way_id"] in readable
        ]
        assert parks
        layer.selectByIds(parks[:1])
        out = tmp_path / "selected.gpkg"
        source = QgsProcessingFeatureSourceDefinition(layer.id(), selectedFeaturesOnly=True)
        run_algorithm("cover", {"INPUT": source, "LEVEL": LEVEL, "OUTPUT": str(out)})
        first_park = (
            layer.getFeature(parks[0])["osm_way_id"] or layer.getFeature(parks[0])["osm_id"]
        )
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    selected = set(field_values(load_layer(out), "cell_id"))
    column = "osm_way_id" if first_park else "osm_id"
    expected = library_cover(sample_polygons, LEVEL, f"[g[{column!r}] == {str(first_park)!r}]")
    assert selected == expected
    assert len(selected) < len(library_cover(sample_polygons, LEVEL))


def test_cover_extent_matches_library(run_algorithm, load_layer, tmp_path):
    out = tmp_path / "extent.gpkg"
    run_algorithm(
        "coverextent",
        {"EXTENT": "24.93,24.95,60.165,60.175 [EPSG:4326]", "LEVEL": 15, "OUTPUT": str(out)},
    )
    ids = set(field_values(load_layer(out), "cell_id"))
    expected = run_library(
        "import json, shapely; from s2vec_geo.s2 import cover; "
        "print(json.dumps([int(c) for c in cover(shapely.box(24.93, 60.165, 24.95, 60.175), 15)]))"
    )
    assert ids == set(expected)


def test_point_cells_match_the_engine(run_algorithm, load_layer, tmp_path):
    pois = REPO / "examples" / "data" / "helsinki_pois.shp"  # EPSG:3067 points
    out = tmp_path / "pois_cells.gpkg"
    run_algorithm("cells", {"INPUT": str(pois), "LEVEL": 14, "OUTPUT": str(out)})
    layer = load_layer(out)
    assert {"amenity", "cell_id", "token"} <= set(layer.fields().names())
    got = {f["osm_id"]: (f["cell_id"], f["token"]) for f in layer.getFeatures()}
    expected = run_library(
        "import json; from s2vec_geo.io.layers import read_layer; from s2vec_geo.s2 import "
        f"cell_to_token, point_cells; g = read_layer({str(pois)!r}); c = point_cells(g, 14); "
        "print(json.dumps({str(k): [int(i), t] for k, i, t in "
        "zip(g['osm_id'], c, cell_to_token(c.to_numpy()))}))"
    )
    assert len(got) == len(expected) > 1000
    assert {str(k): list(v) for k, v in got.items()} == expected


def test_point_cells_take_points_only(run_algorithm, sample_polygons, tmp_path):
    """The dialog offers point layers only; a polygon file given by path is refused in a line."""
    out = tmp_path / "cells.gpkg"
    with pytest.raises(QgsProcessingException, match=r"rows are not .*points"):
        run_algorithm("cells", {"INPUT": str(sample_polygons), "LEVEL": 14, "OUTPUT": str(out)})
    assert not out.exists()


def _memory_layer(crs: str | None, features: int) -> QgsVectorLayer:
    uri = "Polygon" + (f"?crs={crs}" if crs else "")
    layer = QgsVectorLayer(uri, "memory", "memory")
    if crs is None:
        layer.setCrs(QgsCoordinateReferenceSystem())  # QGIS may assign a default otherwise
    for _ in range(features):
        feature = QgsFeature()
        feature.setGeometry(
            QgsGeometry.fromWkt("POLYGON((24.93 60.16,24.94 60.16,24.94 60.17,24.93 60.16))")
        )
        layer.dataProvider().addFeature(feature)
    return layer


@pytest.mark.parametrize(
    ("crs", "features", "message"),
    [(None, 1, "has no coordinate reference system"), ("EPSG:4326", 0, "has no features")],
)
def test_bad_layer_is_refused_with_the_fix(run_algorithm, tmp_path, crs, features, message):
    out = tmp_path / "cells.gpkg"
    layer = _memory_layer(crs, features)
    with pytest.raises(QgsProcessingException, match=message):
        run_algorithm("cover", {"INPUT": layer, "LEVEL": LEVEL, "OUTPUT": str(out)})
    assert not out.exists()


def test_invalid_level_is_refused(run_algorithm, sample_polygons, tmp_path):
    out = tmp_path / "cells.gpkg"
    with pytest.raises(QgsProcessingException, match="LEVEL"):
        run_algorithm("cover", {"INPUT": str(sample_polygons), "LEVEL": 31, "OUTPUT": str(out)})
    assert not out.exists()


def test_engine_refusals_are_one_line_in_processing(run_algorithm, recording_feedback, tmp_path):
    out = tmp_path / "cells.gpkg"
    extent = "-18,52,-35,38 [EPSG:4326]"  # Africa's box, at level 20: ~7.6e11 cells
    feedback = recording_feedback()
    with pytest.raises(QgsProcessingException) as refused:
        run_algorithm("coverextent", {"EXTENT": extent, "LEVEL": 20, "OUTPUT": str(out)}, feedback)
    message = str(refused.value)
    assert message.startswith("covering the geometries at level 20")
    assert "'Largest request (cells)'" in message, "the parameter is not named as in the dialog"
    assert "--" not in message and "\n" not in message and "Traceback" not in message
    assert not [line for line in feedback.lines if "error" in line], "the error is echoed"
    assert list(tmp_path.iterdir()) == []


def test_qgis_process_runs_cover_like_a_user(engine_python, sample_polygons, tmp_path):
    if not os.path.exists(QGIS_PROCESS):
        pytest.skip("qgis_process.bin not installed")
    profile = tmp_path / "profile"
    qgis_process(profile, engine_python, "plugins", "enable", "s2vec").check_returncode()
    out = tmp_path / "cells.gpkg"
    done = qgis_process(
        profile,
        engine_python,
        "run",
        "s2vec:cover",
        "--",
        f"INPUT={sample_polygons}",
        f"LEVEL={LEVEL}",
        f"OUTPUT={out}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.exists()
    assert f"OUTPUT:\t{out}" in done.stdout
