"""The command line starts fast: ``--version`` and ``--help`` load no scientific library.

The time itself is measured by ``benchmarks/bench_cli.py``; these tests check
its cause, which does not depend on the machine's load: what a starting
``s2vec`` imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import s2vec_geo

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "numpy", "geopandas", "torch", "shapely")


def _start(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "s2vec_geo", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )


def _imported(importtime: str) -> set[str]:
    """Top-level packages named in ``-X importtime`` output."""
    return {
        line.split("|")[-1].strip().split(".")[0]
        for line in importtime.splitlines()
        if line.startswith("import time:")
    }


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_no_scientific_library(flag: str) -> None:
    done = _start(flag)
    assert done.returncode == 0, done.stderr
    assert not _imported(done.stderr) & set(HEAVY)
    if flag == "--version":
        assert done.stdout.strip() == f"s2vec-geo {s2vec_geo.__version__}"
    else:
        assert "--version" in done.stdout and "featurize" in done.stdout


def test_the_library_still_registers_the_accessor() -> None:
    import pandas as pd

    assert hasattr(pd.DataFrame, "s2vec")
