"""The engine commands that need no model start without torch.

Every QGIS algorithm runs the engine as a fresh process, so importing torch
(seconds) would be paid on every cover, featurize or join. These tests run
each such command for real on the bundled Helsinki sample and read what it
imported (``python -X importtime``); the time itself is measured by
``benchmarks/bench_engine.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import s2vec_geo as sv
from s2vec_geo.io.layers import read_layer

REPO = Path(__file__).resolve().parents[1]
POIS = REPO / "examples" / "data" / "helsinki_pois.shp"
WITHOUT_A_MODEL = ("cover", "cells", "featurize", "images", "geotiff", "join")


def imports(*args: str) -> set[str]:
    """Top-level packages a fresh engine process imports running ``args`` (it must succeed)."""
    paths = [str(REPO), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}  # this checkout
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[set[str], Path]]:
    """Each command run once on real data: what it imported and what it wrote."""
    folder = tmp_path_factory.mktemp("start")
    out = {name: folder / f"{name}.gpkg" for name in ("cover", "cells", "featurize", "join")}
    out |= {"images": folder / "images", "geotiff": folder / "tiffs"}
    level = ["--level", "16"]
    embeddings = sv.cells_frame(np.unique(sv.point_cells(read_layer(POIS), 16)))
    embeddings[["emb_000", "emb_001"]] = np.random.default_rng(0).normal(size=(len(embeddings), 2))
    sv.write_layer(embeddings, folder / "embeddings.gpkg")  # an embedding table: no model
    argv = {
        "cover": ["cover", str(POIS), *level],
        "cells": ["cells", str(POIS), *level],
        "featurize": ["featurize", str(POIS), *level],
        "images": ["images", str(out["featurize"]), "--image-level", "13"],
        "geotiff": ["geotiff", str(out["images"])],
        "join": ["join", str(POIS), "--embeddings", str(folder / "embeddings.gpkg")],
    }
    return {
        name: (imports("-m", "s2vec_geo", *argv[name], "-o", str(out[name])), out[name])
        for name in WITHOUT_A_MODEL
    }


@pytest.mark.parametrize("command", WITHOUT_A_MODEL)
def test_commands_without_a_model_run_without_torch(runs, command: str) -> None:
    imported, output = runs[command]
    assert output.exists()
    assert "torch" not in imported
    assert "s2vec_geo" in imported and "geopandas" in imported  # the detector sees the engine


@pytest.mark.parametrize("command", WITHOUT_A_MODEL)
def test_command_help_imports_no_scientific_library(command: str) -> None:
    assert not imports("-m", "s2vec_geo", command, "--help") & {"torch", "pandas", "numpy"}


def test_the_embedding_stage_does_import_torch() -> None:
    """The same reading of ``-X importtime`` finds torch where it is needed."""
    assert "torch" in imports("-c", "import s2vec_geo.embeddings.embed")
