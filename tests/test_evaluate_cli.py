"""``s2vec evaluate`` end to end on files, and the optional GeoCLIP provider."""

from __future__ import annotations

import importlib.util
import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from s2vec_geo.cli import main
from s2vec_geo.io.layers import write_layer
from s2vec_geo.s2 import cell_to_latlng, cells_frame, cover


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("evaluate_cli")
    cells = cover(shapely.box(-74.02, 40.70, -73.98, 40.74), 15)
    emb = cells_frame(cells)
    x = np.random.default_rng(0).normal(size=(cells.size, 4))
    for i in range(4):
        emb[f"emb_{i:03d}"] = x[:, i].astype(np.float32)
    lat, lng = cell_to_latlng(cells)
    labels = gpd.GeoDataFrame(
        {"income": (x[:, 0] * 1000 + 50000).round().astype(int).astype(str)},
        geometry=gpd.points_from_xy(lng, lat),
        crs=None,
    )
    paths = {"emb": folder / "emb.gpkg", "labels": folder / "labels.gpkg", "out": folder / "out"}
    write_layer(emb, paths["emb"])
    labels.to_file(paths["labels"])  # lon/lat points stored without a CRS
    return paths


def test_cli_writes_markdown_json_and_chart(files: dict) -> None:
    argv = [
        "evaluate",
        "--embeddings",
        str(files["emb"]),
        "--labels",
        str(files["labels"]),
        "--target",
        "income",
        "--labels-crs",
        "EPSG:4326",
        "--n-splits",
        "2",
        "--holdout=-74.02,40.70,-74.00,40.72",
        "--no-location",
        "--output",
        str(files["out"]),
    ]
    assert main(argv) == 0
    result = json.loads((files["out"] / "results.json").read_text())
    assert result["settings"]["split"] == "spatial hold-out"
    assert result["settings"]["n_splits"] == 2
    assert result["summary"]["s2vec"]["r2_mean"] > 0.8  # the target is emb_000 (text in file)
    assert "| s2vec |" in (files["out"] / "results.md").read_text()
    png = (files["out"] / "results_r2.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_cli_reports_bad_input_in_one_line(files: dict, capsys) -> None:
    argv = [
        "evaluate",
        "--embeddings",
        str(files["emb"]),
        "--labels",
        str(files["labels"]),
        "--target",
        "income",
        "--output",
        str(files["out"]),
    ]
    assert main(argv) == 2
    assert "--labels-crs EPSG:4326" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--labels-crs", "EPSG:4326", "--holdout", "1,2,3"])
    assert stop.value.code == 2
    assert "minx,miny,maxx,maxy" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("geoclip") is None, reason="geoclip not installed")
def test_geoclip_embeds_cell_centres_offline_and_deterministically() -> None:
    from s2vec_geo.evaluation import geoclip_cell_embeddings

    cells = cover(shapely.box(-74.01, 40.70, -74.00, 40.71), 15)
    first = geoclip_cell_embeddings(cells)
    assert first.shape == (cells.size, 512)
    assert first.index.tolist() == cells.tolist()
    assert np.isfinite(first.to_numpy()).all()
    assert np.array_equal(first.to_numpy(), geoclip_cell_embeddings(cells).to_numpy())
    assert not np.allclose(first.iloc[0], first.iloc[-1])  # different places differ
