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

import subprocess
import sys
from pathlib import Path

import pytest
from qgis_helpers import ENGINE_ENV, PLUGIN_ROOT, engine_interpreter


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


@pytest.fixture(scope="session")
def recording_feedback(qgis_processing):
    """The class of a Processing feedback that keeps what an algorithm reported."""
    from qgis.core import QgsProcessingFeedback

    class RecordingFeedback(QgsProcessingFeedback):
        """Keeps progress, progress texts, messages, the engine's log lines and warnings."""

        def __init__(self) -> None:
            super().__init__()
            self.texts: list[str] = []
            self.infos: list[str] = []
            self.lines: list[str] = []
            self.warnings: list[str] = []
            self.percents: list[float] = []
            self.progressChanged.connect(self.percents.append)

        def setProgressText(self, text: str) -> None:  # noqa: N802 (QGIS API)
            self.texts.append(text)
            super().setProgressText(text)

        def pushInfo(self, text: str) -> None:  # noqa: N802 (QGIS API)
            self.infos.append(text)
            super().pushInfo(text)

        def pushConsoleInfo(self, text: str) -> None:  # noqa: N802 (QGIS API)
            self.lines.append(text)
            super().pushConsoleInfo(text)

        def pushWarning(self, text: str) -> None:  # noqa: N802 (QGIS API)
            self.warnings.append(text)
            super().pushWarning(text)

    return RecordingFeedback


@pytest.fixture
def run_algorithm(provider, recording_feedback):
    """``run_algorithm(name, parameters[, feedback])`` runs ``s2vec:<name>``: results, feedback."""
    import processing

    def run(name: str, parameters: dict, feedback=None):
        feedback = feedback or recording_feedback()
        results = processing.run(f"s2vec:{name}", parameters, feedback=feedback)
        return results, feedback

    return run


@pytest.fixture
def load_layer():
    """``load_layer(path)`` opens a GeoPackage with QGIS; layers are dropped after the test.

    QGIS crashes at exit when a layer outlives ``exitQgis()``, so nothing is kept.
    """
    from qgis.core import QgsVectorLayer

    layers = []

    def load(path) -> QgsVectorLayer:
        layer = QgsVectorLayer(str(path), "layer", "ogr")
        assert layer.isValid(), f"QGIS cannot open {path}"
        layers.append(layer)
        return layer

    yield load
    layers.clear()
