"""The plugin loads into headless QGIS, lists its algorithms and checks its engine option."""

from __future__ import annotations

import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytest.importorskip(
    "qgis.core",
    reason="QGIS Python bindings not installed (apt-get install qgis python3-qgis "
    "qgis-providers; see qgis_plugin/README.md)",
)
pytest.importorskip("pytest_qgis", reason="pytest-qgis not installed (pip install pytest-qgis)")

from qgis.core import QgsApplication, QgsProcessingException

EXPECTED = {
    "cover",
    "coverextent",
    "featurizeosm",
    "featurizelayer",
    "images",
    "train",
    "embed",
    "join",
    "evaluate",
    "pipeline",
}


def test_provider_registers_algorithms_with_help(provider):
    registry = QgsApplication.processingRegistry()
    assert registry.providerById("s2vec") is provider
    names = {alg.name() for alg in provider.algorithms()}
    assert names >= EXPECTED
    for alg in provider.algorithms():
        assert alg.shortHelpString(), alg.name()
        assert alg.group(), alg.name()
        for parameter in alg.parameterDefinitions():
            assert parameter.help(), f"{alg.name()}:{parameter.name()} has no help text"


@pytest.fixture
def engine_setting(provider, monkeypatch):
    """Lets a test change the engine option; restores it afterwards."""
    from s2vec.settings import ENGINE_PYTHON, engine_python, set_engine_python

    monkeypatch.delenv(ENGINE_PYTHON, raising=False)
    previous = engine_python()
    yield set_engine_python
    set_engine_python(previous)


def test_missing_engine_setting_names_the_option(engine_setting, tmp_path):
    from s2vec.settings import engine_python

    engine_setting("")
    with pytest.raises(QgsProcessingException, match="Providers > S2Vec"):
        engine_python()
    not_executable = tmp_path / "python"
    not_executable.write_text("")
    engine_setting(str(not_executable))
    with pytest.raises(QgsProcessingException, match="not an executable file"):
        engine_python()


def test_engine_without_s2vec_geo_names_the_fix(engine_setting, tmp_path):
    from s2vec.engine import run_engine

    venv.create(tmp_path / "bare", with_pip=False)  # a Python without s2vec-geo
    engine_setting(str(tmp_path / "bare" / "bin" / "python"))
    with pytest.raises(QgsProcessingException, match="does not have s2vec-geo installed"):
        run_engine("cover", ["--help"])


def test_zip_installs_a_plugin_folder(tmp_path: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "qgis_plugin"))
    from build_zip import build_zip

    first = build_zip(tmp_path / "a")
    second = build_zip(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes(), "zip build is not reproducible"
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        metadata = archive.read("s2vec/metadata.txt").decode()
    assert {"s2vec/__init__.py", "s2vec/metadata.txt", "s2vec/icon.svg"} <= set(names)
    assert "hasProcessingProvider=yes" in metadata
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
