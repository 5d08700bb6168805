"""The plugin loads into headless QGIS, lists its algorithms and checks its engine option."""

from __future__ import annotations

import itertools
import venv
from pathlib import Path

import pytest

pytest.importorskip(
    "qgis.core",
    reason="QGIS Python bindings not installed (apt-get install qgis python3-qgis "
    "qgis-providers; see qgis_plugin/README.md)",
)
pytest.importorskip("pytest_qgis", reason="pytest-qgis not installed (pip install pytest-qgis)")

from qgis.core import QgsApplication, QgsProcessingException
from qgis_helpers import run_library

EXPECTED = {
    "cover",
    "coverextent",
    "cells",
    "geotiff",
    "evaluateareas",
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
    assert names == EXPECTED
    for alg in provider.algorithms():
        assert alg.shortHelpString(), alg.name()
        assert alg.group(), alg.name()
        for parameter in alg.parameterDefinitions():
            assert parameter.help(), f"{alg.name()}:{parameter.name()} has no help text"


@pytest.fixture
def engine_setting(provider, monkeypatch, tmp_path):
    """Lets a test change the engine option; restores it afterwards.

    The option's environment variable is removed, and no engine can be found
    (nothing on PATH, no active virtualenv or conda environment) unless the
    test puts one there.
    """
    from s2vec.settings import ENGINE_PYTHON, configured_python, set_engine_python

    monkeypatch.delenv(ENGINE_PYTHON, raising=False)
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "path").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    previous = configured_python()[0]
    yield set_engine_python
    set_engine_python(previous)


def environment_with(engine: str, prefix: Path) -> Path:
    """An environment folder (a conda env or virtualenv) whose bin/python runs ``engine``."""
    (prefix / "bin").mkdir(parents=True)
    python = prefix / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{engine}" "$@"\n')
    python.chmod(0o755)
    return python


def test_no_engine_chosen_or_found_names_the_fix(engine_setting, tmp_path):
    from s2vec.discovery import engine_python

    engine_setting("")
    with pytest.raises(QgsProcessingException, match="No S2Vec engine found") as missing:
        engine_python()
    assert "Providers > S2Vec" in str(missing.value)
    assert "pip install s2vec-geo" in str(missing.value)
    not_executable = tmp_path / "python"
    not_executable.write_text("")
    engine_setting(str(not_executable))
    with pytest.raises(QgsProcessingException, match="not an executable file"):
        engine_python()


def test_the_engine_is_found_on_path_with_the_option_empty(
    engine_setting, run_algorithm, engine_python, tmp_path
):
    """An s2vec command on PATH: its interpreter runs the engine, and the log says so."""
    engine_setting("")
    script = tmp_path / "path" / "s2vec"
    script.write_text(f"#!{engine_python}\nfrom s2vec_geo.cli import main\n")
    script.chmod(0o755)
    out = tmp_path / "cells.gpkg"
    extent = "24.93,24.94,60.165,60.17 [EPSG:4326]"
    _, feedback = run_algorithm("coverextent", {"EXTENT": extent, "LEVEL": 12, "OUTPUT": str(out)})
    assert out.is_file()
    used = [text for text in feedback.infos if text.startswith("S2Vec engine: ")]
    assert len(used) == 1 and used[0].startswith(f"S2Vec engine: {engine_python} (s2vec-geo ")
    assert f"the s2vec command on PATH ({script})" in used[0]


def test_the_search_skips_environments_without_s2vec_geo(
    engine_setting, engine_python, tmp_path, monkeypatch
):
    from s2vec.discovery import find_engine

    engine_setting("")
    venv.create(tmp_path / "bare", with_pip=False)  # a virtualenv without s2vec-geo
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "bare"))
    conda = environment_with(engine_python, tmp_path / "conda")
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "conda"))
    assert find_engine() == (
        str(conda),
        f"the active conda environment (CONDA_PREFIX={tmp_path / 'conda'})",
    )
    monkeypatch.delenv("CONDA_PREFIX")
    with pytest.raises(QgsProcessingException, match=r"VIRTUAL_ENV=.*: no s2vec-geo there"):
        find_engine()
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "conda"))
    assert find_engine() == (
        str(conda),
        f"the active virtualenv (VIRTUAL_ENV={tmp_path / 'conda'})",
    )


def test_engine_without_s2vec_geo_names_the_fix(engine_setting, tmp_path):
    from s2vec.engine import run_engine

    venv.create(tmp_path / "bare", with_pip=False)  # a Python without s2vec-geo
    engine_setting(str(tmp_path / "bare" / "bin" / "python"))
    with pytest.raises(QgsProcessingException, match="does not have s2vec-geo installed"):
        run_engine("cover", ["--help"])


def test_the_search_never_takes_the_python_qgis_loads_its_modules_from(
    engine_setting, engine_python, tmp_path, monkeypatch
):
    """QGIS started from an activated virtualenv (its Python's prefix is that environment):
    an engine there would load its wheels into QGIS itself, so the search skips it, even
    with s2vec-geo installed there, and takes the separate one."""
    import sys

    from s2vec.discovery import find_engine

    engine_setting("")
    qgis_own = Path(sys.prefix) / "bin" / "python"
    script = tmp_path / "path" / "s2vec"
    script.write_text(f"#!{qgis_own}\nfrom s2vec_geo.cli import main\n")
    script.chmod(0o755)
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    with pytest.raises(QgsProcessingException) as refused:
        find_engine()
    assert str(refused.value).count("QGIS's own Python, skipped") == 2, refused.value
    separate = environment_with(engine_python, tmp_path / "separate")
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "separate"))
    assert find_engine()[0] == str(separate)


def dead_pid() -> int:
    import subprocess

    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_work_folders_of_a_killed_qgis_are_removed_by_the_next_run(run_algorithm, tmp_path):
    """kill -9 of qgis_process leaves its processing folder with the engine's checkpoint.pt;
    the next run removes it (and leaves a live QGIS's work folder alone)."""
    import os

    from qgis.core import QgsProcessingUtils
    from s2vec.destinations import host_tag

    temp = Path(QgsProcessingUtils.tempFolder())
    old = temp.parent / f"processing_s2vectest{os.getpid()}"
    stale = old / f"s2vec-{host_tag()}-{dead_pid()}-deadbeef" / "work" / "model"
    live = old / f"s2vec-{host_tag()}-{os.getpid()}-livebeef"
    stale.mkdir(parents=True)
    (stale / "checkpoint.pt").write_bytes(b"\0" * 1024)
    live.mkdir()
    try:
        extent = "24.93,24.94,60.165,60.17 [EPSG:4326]"
        out = tmp_path / "cells.gpkg"
        run_algorithm("coverextent", {"EXTENT": extent, "LEVEL": 12, "OUTPUT": str(out)})
        assert out.is_file()
        assert not stale.parent.parent.exists(), "the killed run's work folder is still there"
        assert live.exists(), "a live QGIS's work folder was removed"
    finally:
        import shutil

        shutil.rmtree(old, ignore_errors=True)


def test_a_vanished_processing_temp_folder_is_made_again(run_algorithm, tmp_path):
    import shutil

    from qgis.core import QgsProcessingUtils

    shutil.rmtree(QgsProcessingUtils.tempFolder())
    out = tmp_path / "cells.gpkg"
    extent = "24.93,24.94,60.165,60.17 [EPSG:4326]"
    run_algorithm("coverextent", {"EXTENT": extent, "LEVEL": 12, "OUTPUT": str(out)})
    assert out.is_file()


def test_progress_text_is_not_repeated_and_the_bar_waits_for_the_engine(
    run_algorithm, recording_feedback, sample_polygons, tmp_path
):
    """The input export fills only the start of the bar; the engine's texts come once each."""
    from s2vec.engine import EXPORT_SHARE

    feedback = recording_feedback()
    events: list[tuple[str, object]] = []
    feedback.progressChanged.connect(lambda p: events.append(("percent", p)))
    feedback.pushCommandInfo = lambda text: events.append(("engine starts", text))
    out = tmp_path / "c.gpkg"
    run_algorithm("cover", {"INPUT": str(sample_polygons), "LEVEL": 14, "OUTPUT": str(out)},
                  feedback)  # fmt: skip
    start = events.index(next(e for e in events if e[0] == "engine starts"))
    before = [p for kind, p in events[:start] if kind == "percent"]
    assert before and max(before) <= EXPORT_SHARE, before
    texts = feedback.texts
    assert texts and all(a != b for a, b in itertools.pairwise(texts)), texts


def test_the_engine_removes_an_output_a_killed_qgis_was_moving_into_place(tmp_path):
    """The plugin stages outputs under the engine's temporary name (one definition,
    ``s2vec_geo/io/owners.py``): the engine's next write there removes a killed QGIS's."""
    import os

    from s2vec.destinations import staging_name

    staged = staging_name(str(tmp_path / "cells.gpkg"))
    dead = tmp_path / staged.replace(f"-{os.getpid()}-", f"-{dead_pid()}-", 1)
    live = tmp_path / staging_name(str(tmp_path / "cells.gpkg"))
    for path in (dead, live):
        path.write_text("half a layer")
    removed = run_library(
        "import json; from s2vec_geo.io.locks import remove_stale_temporaries; "
        f"print(json.dumps([p.name for p in remove_stale_temporaries({str(tmp_path)!r})]))"
    )
    assert removed == [dead.name]
    assert live.exists()  # this QGIS still runs
