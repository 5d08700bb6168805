"""Size guards that see everything before allocating (issue 23, item 9).

Hostile or oversized requests are refused from what they declare, before the
memory is taken: a model file from its zip directory and its architecture, a
training run from its network's shape and batch, a covering and cut roads
from their estimated cells held against a memory budget. Each case asserts
what a user sees (one line, exit status 2, the estimate and the fix) and
that the refusal is fast and small (the peak memory of a subprocess).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import torch
from synthetic_cells import TINY_MODEL, synthetic_cells
from test_reliability import cli, hidden, one_error, peak_rss

from s2vec_geo.core.guards import (
    MEMORY_BUDGET_ENV,
    OverBudgetError,
    TooManyCellsError,
    budget_in_force,
    using_budget,
)
from s2vec_geo.features.featurize import featurize
from s2vec_geo.images import build_images
from s2vec_geo.images.normalization import NormStats
from s2vec_geo.model.file import S2VecModel, load_model
from s2vec_geo.model.mae import MAEConfig, MaskedAutoencoder
from s2vec_geo.model.training import TrainConfig, check_training_memory
from s2vec_geo.s2 import cover

REPO = Path(__file__).resolve().parents[1]
PBF = REPO / "examples" / "data" / "helsinki.osm.pbf"
LIECHTENSTEIN = REPO.parent / "shared" / "data" / "osm" / "valhalla-liechtenstein.osm.pbf"
MIB = 2**20
SMALL = 300 * MIB
"""Most memory a refusal may take beyond the libraries it imports."""

# -- model files -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A real model file of a tiny network (4 features, 8 x 8 images)."""
    cfg = MAEConfig(num_features=4, grid=8, **TINY_MODEL)
    names = ["a", "b", "c", "d"]
    stats = NormStats.from_array(np.ones((3, 4)), log1p=False, feature_names=names)
    model = S2VecModel(MaskedAutoencoder(cfg), stats, names, 13, 10)
    return model.save(tmp_path_factory.mktemp("model") / "model.pt")


def _rewritten(model: Path, out: Path, member: str, data: bytes) -> Path:
    """``model`` with the member ending in ``member`` replaced by ``data``."""
    with zipfile.ZipFile(model) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, data if info.filename.endswith(member) else src.read(info))
    return out


def _deflated(out: Path, model: Path, megabytes: int) -> Path:
    """``model`` whose ``data.pkl`` inflates to ``megabytes`` MiB of zeros (small on disk)."""
    with zipfile.ZipFile(model) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("data.pkl"):
                dst.writestr(info, src.read(info))
                continue
            bomb = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            bomb.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(bomb, "w", force_zip64=True) as inflating:
                zero = bytes(MIB)
                for _ in range(megabytes):
                    inflating.write(zero)
    return out


LOAD = """
import resource, sys
from s2vec_geo.model.file import load_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_model(sys.argv[1])
    print("loaded")
except ValueError as exc:
    print(exc)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def _load_in_child(path: Path) -> tuple[str, int, float]:
    """Load a model file in a fresh process: (message, memory it took, seconds)."""
    pytest.importorskip("resource")  # ru_maxrss: Unix only
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    seconds = time.perf_counter() - started
    *message, grown = done.stdout.strip().splitlines()
    return "\n".join(message), int(grown), seconds


def test_a_model_file_that_inflates_is_refused_before_it_is_read(tiny_model, tmp_path):
    bomb = _deflated(tmp_path / "model.pt", tiny_model, megabytes=768)
    assert bomb.stat().st_size < 2 * MIB
    message, grown, seconds = _load_in_child(bomb)
    print(f"refused in {seconds:.1f} s, {grown / MIB:.0f} MiB")
    assert str(bomb) in message and "inflates" in message and "\n" not in message
    assert grown < SMALL


def test_a_model_claiming_a_huge_network_is_refused_before_it_is_built(tiny_model, tmp_path):
    data = torch.load(tiny_model, weights_only=True)
    for name, claim in {
        "wide": {"embed_dim": 2048, "depth": 12},  # beyond the declared range
        "deep": {"embed_dim": 1024, "depth": 24, "decoder_dim": 1024, "decoder_depth": 24},
    }.items():
        path = tmp_path / f"{name}.pt"
        torch.save({**data, "mae_config": {**data["mae_config"], **claim}}, path)
        assert path.stat().st_size < 200_000
        message, grown, _ = _load_in_child(path)
        print(f"{name}: {message} ({grown / MIB:.0f} MiB)")
        assert str(path) in message and "damaged s2vec model file" in message
        assert grown < SMALL
    assert "its weights hold" in message  # the in-range claim: weights and shape disagree


def test_a_model_file_with_too_much_plain_data_is_refused(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr("s2vec_geo.model.file.PICKLE_MAX_BYTES", 64 * 1024)
    bulky = _rewritten(tiny_model, tmp_path / "model.pt", "data.pkl", bytes(100 * 1024))
    with pytest.raises(ValueError, match=r"declares 100\.0 KiB of data besides its weights"):
        load_model(bulky)


def test_a_model_file_over_the_memory_budget_is_refused(tiny_model):
    with (
        using_budget("100KB"),
        pytest.raises(OverBudgetError, match=r"memory budget of 100\.0 KiB"),
    ):
        load_model(tiny_model)
    assert load_model(tiny_model).config.embed_dim == TINY_MODEL["embed_dim"]


# -- training ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("images") / "images"
    build_images(synthetic_cells(n_parents=6), 10, out=out)
    return out


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["--embed-dim", "2048", "--depth", "12"], "embed_dim must be between 1 and 1024"),
        (["--batch-size", "1000000000"], "batch_size must be between 1 and 65536"),
        (
            ["--embed-dim", "1024", "--depth", "12", "--num-heads", "8"],
            r"network of 151\.\d M parameters .* over the memory budget",
        ),
    ],
    ids=["width out of range", "batch out of range", "network over budget"],
)
def test_oversize_training_is_refused_before_the_network_is_built(
    settings, message, images, tmp_path, capsys
):
    started = time.perf_counter()
    status, err = cli(["train", images, "-o", tmp_path / "run", "--epochs", "1", *settings], capsys)
    assert status == 2 and re.search(message, one_error(err)), err
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_a_batch_over_the_budget_is_refused_for_a_dataset_that_fills_it():
    cfg = TrainConfig(batch_size=65_536)
    mae = cfg.mae_config(116, 16)
    with pytest.raises(OverBudgetError, match=r"batches of 65,536 windows .* GiB of memory"):
        check_training_memory(mae, cfg, torch.device("cpu"), n_windows=100_000)
    check_training_memory(mae, cfg, torch.device("cpu"), n_windows=20)  # 20 windows a step
    with pytest.raises(OverBudgetError):
        check_training_memory(mae, cfg, torch.device("cpu"), world=2, n_windows=100_000)
    check_training_memory(mae, cfg, torch.device("cpu"), world=4096, n_windows=100_000)


def test_the_training_estimate_errs_high_and_a_budget_lets_it_through(images, tmp_path, capsys):
    status, err = cli(["train", images, "-o", tmp_path / "run", "--memory-budget", "1MB"], capsys)
    assert status == 2 and "--memory-budget SIZE" in one_error(err)
    argv = ["train", images, "-o", tmp_path / "run", "--epochs", "1", "--memory-budget", "1GB"]
    tiny = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_MODEL.items() if k != "dropout"]
    assert cli([*argv, *tiny, "--batch-size", "4"], capsys)[0] == 0
    assert hidden(tmp_path) == []


# -- the memory budget ---------------------------------------------------------------------

HELSINKI = shapely.box(24.9, 60.15, 24.98, 60.19)  # 934 cells at level 16


def test_cover_of_a_degree_at_level_18_is_refused_by_the_memory_budget(tmp_path):
    gpd.GeoDataFrame(geometry=[shapely.box(24, 60, 25, 61)], crs=4326).to_file(tmp_path / "a.gpkg")
    argv = ["cover", "a.gpkg", "--level", "18", "-o", "cells.gpkg"]
    started = time.perf_counter()
    status, err, peak = peak_rss(argv, tmp_path)
    print(f"refused in {time.perf_counter() - started:.1f} s, peak {peak / MIB:.0f} MiB")
    line = one_error(err)
    assert status == 2 and "about 4,2" in line and "over the memory budget of 2.0 GiB" in line
    assert "level 17 or coarser" in line and "--memory-budget SIZE" in line
    assert peak < 1024 * MIB
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gpkg"]


def test_the_budget_is_an_option_an_environment_variable_and_a_keyword(monkeypatch, tmp_path):
    with pytest.raises(OverBudgetError, match=r"memory_budget=\.\.\."):
        cover(HELSINKI, 16, memory_budget="100KB")  # 934 cells of 128 bytes
    assert len(cover(HELSINKI, 16, memory_budget="1MB")) == 934
    with pytest.raises(OverBudgetError, match="cutting roads at the cell edges of level 16"):
        featurize(PBF, level=16, memory_budget="100KB")
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "100 KiB")
    assert budget_in_force() == 100 * 1024
    with pytest.raises(OverBudgetError):
        cover(HELSINKI, 16)
    with using_budget("2MB"):
        assert len(cover(HELSINKI, 16)) == 934
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "lots")
    with pytest.raises(ValueError, match="S2VEC_MEMORY_BUDGET: 'lots' is not a size"):
        cover(HELSINKI, 16)


def test_max_cells_still_comes_first(capsys, tmp_path):
    with pytest.raises(TooManyCellsError, match="max_cells=N") as refused:
        cover(HELSINKI, 16, max_cells=900, memory_budget="1TB")
    assert not isinstance(refused.value, OverBudgetError)
    gpd.GeoDataFrame(geometry=[HELSINKI], crs=4326).to_file(tmp_path / "h.gpkg")
    argv = ["cover", tmp_path / "h.gpkg", "--level", "16", "-o", tmp_path / "c.gpkg"]
    with pytest.raises(SystemExit) as refused:
        cli([*argv, "--memory-budget", "lots"], capsys)
    assert (
        refused.value.code == 2
        and "--memory-budget: 'lots' is not a size" in capsys.readouterr().err
    )
    assert cli([*argv, "--memory-budget", "1MB"], capsys)[0] == 0


# -- roads before cutting ------------------------------------------------------------------


def test_roads_over_the_budget_are_refused_before_they_are_cut():
    started = time.perf_counter()
    with pytest.raises(OverBudgetError, match=r"cutting roads at the cell edges of level 27"):
        featurize(PBF, level=27)  # 1.8 M pieces: under --max-cells, 2.7 GiB as a layer
    assert time.perf_counter() - started < 20  # reading the sample included


@pytest.mark.slow
@pytest.mark.skipif(not LIECHTENSTEIN.is_file(), reason="needs ../shared/data")
def test_liechtenstein_at_level_24_is_refused_before_anything_is_cut(tmp_path):
    argv = ["featurize", LIECHTENSTEIN, "--level", "24", "--taxonomy", "v2", "-o", "c.gpkg"]
    started = time.perf_counter()
    status, err, peak = peak_rss(argv, tmp_path)
    seconds = time.perf_counter() - started
    print(f"refused in {seconds:.0f} s, peak {peak / MIB:.0f} MiB: {one_error(err)}")
    assert status == 2 and peak < 1024 * MIB and seconds < 60
    assert list(tmp_path.iterdir()) == []
    status, err, peak = peak_rss([*argv, "--max-cells-per-polygon", "0"], tmp_path)
    print(f"without the polygon limit: peak {peak / MIB:.0f} MiB: {one_error(err)}")
    assert status == 2 and "cutting roads" in one_error(err) and peak < 1024 * MIB


def test_polygons_are_checked_before_the_roads_are_cut(monkeypatch):
    frame = gpd.GeoDataFrame(
        {"category": ["residential", "forest"], "kind": ["road", "landuse"]},
        geometry=[
            shapely.LineString([(24.90, 60.10), (24.91, 60.10)]),
            shapely.box(24.90, 60.10, 25.0, 60.2),
        ],
        crs=4326,
    )

    def cut(*_):
        raise AssertionError("roads were cut before the polygons were checked")

    monkeypatch.setattr("s2vec_geo.features.featurize.segments", cut)
    with pytest.raises(ValueError, match="land-use polygon #0 would cover about"):
        featurize(frame, level=22, taxonomy="v2")
