"""The same ``qgis_process run s2vec:join`` again and again: every run succeeds.

One of seven identical runs once crashed ``qgis_process``. A crash that
shows once in a few runs is a race (a thread, a process, a file), so the
command is repeated as a user or a script would: the same input, the same
output replaced each time, a fresh ``qgis_process`` for every run: fifty
runs, about five minutes on two cores (the engine's join starts without torch).
Marked slow: ``make test`` leaves it out, ``make test-qgis-slow`` runs it.
"""

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

from qgis_helpers import QGIS_PROCESS, REPO, qgis_process, run_library

POIS = REPO / "examples" / "data" / "helsinki_pois.shp"


@pytest.fixture(scope="module")
def embeddings(engine_python, sample_pbf, tmp_path_factory) -> Path:
    """A small real embedding layer: the sample through the whole engine, one short epoch."""
    out = tmp_path_factory.mktemp("repeat") / "embeddings.gpkg"
    status = run_library(
        "from s2vec_geo.cli import main; "
        f"status = main(['run', {str(sample_pbf)!r}, '--level', '15', '--image-level', '12', "
        f"'--epochs', '1', '--embed-dim', '8', '--output', {str(out)!r}]); print(status)"
    )
    assert status == 0 and out.is_file()
    return out


RUNS = 50


@pytest.mark.slow
def test_qgis_process_join_succeeds_every_time(engine_python, embeddings, tmp_path):
    if not os.path.exists(QGIS_PROCESS):
        pytest.skip("qgis_process.bin not installed")
    profile, out = tmp_path / "profile", tmp_path / "joined.gpkg"
    qgis_process(profile, engine_python, "plugins", "enable", "s2vec").check_returncode()
    command = ["run", "s2vec:join", "--", f"INPUT={POIS}", f"EMBEDDINGS={embeddings}"]
    failed = []
    for run in range(RUNS):
        done = qgis_process(profile, engine_python, *command, f"OUTPUT={out}")
        if done.returncode != 0 or f"OUTPUT:\t{out}" not in done.stdout:
            failed.append(f"run {run + 1}: exit status {done.returncode}\n{done.stderr[-2000:]}")
    assert not failed, f"{len(failed)} of {RUNS} runs failed:\n" + "\n".join(failed)
    joined = run_library(
        "import json, pyogrio; "
        f"info = pyogrio.read_info({str(out)!r}); "
        "print(json.dumps([info['features'], [f for f in info['fields'] if f[:4] == 'emb_']]))"
    )
    assert joined == [2411, [f"emb_{i:03d}" for i in range(8)]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.gpkg", "profile"]
