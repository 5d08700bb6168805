"""The featurize algorithms' taxonomy and polygon choices, checked against the library."""

from __future__ import annotations

import re

import pytest

pytest.importorskip(
    "qgis.core",
    reason="QGIS Python bindings not installed (apt-get install qgis python3-qgis "
    "qgis-providers; see qgis_plugin/README.md)",
)
pytest.importorskip("pytest_qgis", reason="pytest-qgis not installed (pip install pytest-qgis)")

from qgis_helpers import field_values, run_library

LEVEL = 15


def library_sums(code: str, prefix: str) -> dict:
    """Column sums (columns starting with ``prefix``) of cells the library featurizes."""
    sums = f"{{k: float(c[k].sum()) for k in c.columns if k.startswith({prefix!r})}}"
    return run_library(f"import json, s2vec_geo; c = {code}; print(json.dumps({sums}))")


def layer_sums(layer, prefix: str) -> dict:
    names = [n for n in layer.fields().names() if n.startswith(prefix)]
    return {n: float(sum(field_values(layer, n))) for n in names}


def test_featurize_osm_taxonomy_v2(run_algorithm, load_layer, sample_pbf, tmp_path):
    out = tmp_path / "v2.gpkg"
    parameters = {"PBF": str(sample_pbf), "LEVEL": LEVEL, "TAXONOMY": 2, "OUTPUT": str(out)}
    run_algorithm("featurizeosm", parameters)
    got = layer_sums(load_layer(out), "building_")
    want = library_sums(f"s2vec_geo.featurize({str(sample_pbf)!r}, {LEVEL}, taxonomy='v2')", "b")
    assert set(got) == set(want) and len(got) == 15
    assert got == pytest.approx(want, rel=1e-9)
    v1 = tmp_path / "v1.gpkg"
    run_algorithm("featurizeosm", {"PBF": str(sample_pbf), "LEVEL": LEVEL, "OUTPUT": str(v1)})
    assert not layer_sums(load_layer(v1), "building_")  # v1 stays the default


def test_featurize_layer_polygons_as_buildings(
    run_algorithm, load_layer, sample_polygons, tmp_path
):
    out = tmp_path / "buildings.gpkg"
    parameters = {
        "INPUT": str(sample_polygons),
        "CATEGORY_COLUMN": "building",
        "POLYGONS": 1,  # building footprints
        "LEVEL": LEVEL,
        "OUTPUT": str(out),
    }
    run_algorithm("featurizelayer", parameters)
    got = layer_sums(load_layer(out), "building_area_m2_")
    code = (
        f"s2vec_geo.featurize({str(sample_polygons)!r}, {LEVEL}, category_column='building', "
        "polygons='building')"
    )
    want = library_sums(code, "building_area_m2_")
    assert "building_area_m2_yes" in got and got == pytest.approx(want, rel=1e-9)
    assert sum(want.values()) > 100_000  # square metres of footprints


def test_featurize_layer_logs_words_not_python_values(run_algorithm, load_layer, tmp_path):
    """Every line *Featurize cells from a layer* shows is text: no tuple, list or dict."""
    from qgis_helpers import REPO

    out = tmp_path / "pois.gpkg"
    parameters = {
        "INPUT": str(REPO / "examples" / "data" / "helsinki_pois.shp"),
        "CATEGORY_COLUMN": "amenity",
        "LEVEL": LEVEL,
        "OUTPUT": str(out),
    }
    _, feedback = run_algorithm("featurizelayer", parameters)
    shown = [*feedback.texts, *feedback.infos, *feedback.lines, *feedback.warnings]
    ours = [line for line in shown if not line.startswith("Results: ")]  # QGIS's own line
    python_values = [line for line in ours if re.search(r"\(\s*['\"(\[]|\[\s*['\"(]", line)]
    assert python_values == []
    assert any("categories: 69 for points of interest (animal_boarding" in line for line in ours)
    assert load_layer(out).featureCount() > 0
