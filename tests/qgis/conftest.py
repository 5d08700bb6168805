"""Fixtures for the QGIS plugin tests: a headless QGIS with the S2Vec provider loaded.

These tests need QGIS's Python bindings (``qgis.core``) and pytest-qgis; they
run in a Python that sees them (on Debian: a venv made with
``/usr/bin/python3.11 -m venv --system-site-packages``) with
``-o qgis_gui_enabled=False``. The engine the plugin starts is the Python in
the environment variable ``S2VEC_ENGINE_PYTHON`` (default: the test's own
interpreter), which must have s2vec-geo installed. Without QGIS every test
here skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_ROOT = REPO / "qgis_plugin"
ENGINE_ENV = "S2VEC_ENGINE_PYTHON"


def engine_interpreter() -> str:
    """The engine Python: ``$S2VEC_ENGINE_PYTHON`` or the interpreter running the tests."""
    return os.environ.get(ENGINE_ENV) or sys.executable


def run_library(code: str) -> object:
    """Run ``code`` with the engine's s2vec-geo library; return the JSON it prints last.

    The test process (QGIS) never imports the engine's wheels, as in real use.
    """
    result = subprocess.run(
        [engine_interpreter(), "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def engine_python() -> str:
    """The engine interpreter, checked to have s2vec-geo; skips the test otherwise."""
    python = engine_interpreter()
    check = subprocess.run(
        [python, "-c", "import s2vec_geo.cli"], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        pytest.skip(f"engine python {python} cannot import s2vec_geo; set {ENGINE_ENV}")
    return python


@pytest.fixture(scope="session")
def provider(qgis_processing, engine_python):
    """The S2Vec plugin loaded into headless Processing, engine set in the options."""
    if str(PLUGIN_ROOT) not in sys.path:
        sys.path.insert(0, str(PLUGIN_ROOT))
    from s2vec.plugin import S2VecPlugin
    from s2vec.settings import set_engine_python

    plugin = S2VecPlugin()
    plugin.initProcessing()
    set_engine_python(engine_python)
    yield plugin.provider
    plugin.unload()


@pytest.fixture(scope="session")
def sample_polygons(sample_pbf: Path, tmp_path_factory) -> Path:
    """Building and park polygons of the bundled Helsinki PBF as a GeoPackage (via QGIS/OGR)."""
    from qgis.core import QgsCoordinateTransformContext, QgsVectorFileWriter, QgsVectorLayer

    layer = QgsVectorLayer(f"{sample_pbf}|layername=multipolygons", "osm", "ogr")
    assert layer.isValid()
    layer.setSubsetString("leisure = 'park' OR building IS NOT NULL")
    path = tmp_path_factory.mktemp("sample") / "polygons.gpkg"
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, str(path), QgsCoordinateTransformContext(), options
    )
    assert error[0] == QgsVectorFileWriter.NoError, error
    del layer
    return path
