"""`s2vec run` (the README's main job) and `s2vec join`, on the bundled Helsinki sample."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from matplotlib.image import imread

from s2vec_geo.cli import main
from s2vec_geo.core.schema import feature_columns
from s2vec_geo.images import ImageDataset
from s2vec_geo.io.layers import read_cell_layer
from s2vec_geo.model.file import load_model
from s2vec_geo.s2 import latlng_to_cell

REPO = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "2", "--embed-dim", "32", "--depth", "1", "--num-heads", "2"]
TINY += ["--decoder-dim", "16", "--decoder-depth", "1", "--batch-size", "8"]


@pytest.fixture(scope="module")
def run(sample_pbf, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "helsinki.gpkg"
    args = ["run", str(sample_pbf), "--level", "17", "--image-level", "14", *TINY]
    assert main([*args, "--output", str(out)]) == 0
    return out


def test_run_writes_every_product_of_the_pipeline(run):
    work = run.with_name("helsinki_work")
    emb = read_cell_layer(run)
    cells = read_cell_layer(work / "cells.gpkg")
    # one embedding per featurized cell, of the model's size, all finite
    assert emb.index.sort_values().equals(cells.index.sort_values())
    values = emb.filter(like="emb_").to_numpy()
    assert values.shape[1] == 32 and np.isfinite(values).all()
    assert emb.crs.to_epsg() == 4326 and set(emb.geometry.geom_type) == {"Polygon"}
    model = load_model(work / "model")
    assert model.feature_names == feature_columns(cells)
    assert (model.patch_level, model.image_level) == (17, 14)
    # the PCA map and the loss curve are real pictures, not blank canvases
    for png in (run.with_suffix(".png"), work / "model" / "loss_curve.png"):
        pixels = imread(png)[..., :3]
        assert pixels.std() > 0.05, f"{png.name} looks blank"


def test_run_is_reproducible_with_the_same_seed(run, sample_pbf, tmp_path):
    again = tmp_path / "again.gpkg"
    args = ["run", str(sample_pbf), "--level", "17", "--image-level", "14", *TINY]
    assert main([*args, "--output", str(again)]) == 0
    a, b = read_cell_layer(run).sort_index(), read_cell_layer(again).sort_index()
    np.testing.assert_array_equal(
        a.filter(like="emb_").to_numpy(), b.filter(like="emb_").to_numpy()
    )


def test_bad_levels_fail_before_any_output(sample_pbf, tmp_path, capsys):
    out = tmp_path / "x.gpkg"
    args = ["run", str(sample_pbf), "--level", "14", "--image-level", "14", "--output", str(out)]
    assert main(args) == 2
    assert "image_level (14) must be lower" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_join_gives_every_point_its_cell_embedding(run, tmp_path):
    pois = REPO / "examples" / "data" / "helsinki_pois.shp"
    out = tmp_path / "pois_emb.gpkg"
    assert main(["join", str(pois), "--embeddings", str(run), "--output", str(out)]) == 0
    joined = gpd.read_file(out)
    source = gpd.read_file(pois)
    assert len(joined) == len(source)
    assert set(source.columns) <= set(joined.columns)
    emb = read_cell_layer(run)
    # a point inside an embedded cell carries exactly that cell's vector
    inside = joined[joined["n_cells"] == 1]
    assert len(inside) > 0.9 * len(joined)
    first = inside.iloc[0]
    point = first.geometry
    cid = int(latlng_to_cell(point.y, point.x, 17))
    np.testing.assert_allclose(
        first.filter(like="emb_").to_numpy(np.float64),
        emb.loc[cid].filter(like="emb_").to_numpy(np.float64),
        rtol=1e-6,
    )


def test_images_cli_min_support_keeps_frequent_features(run, tmp_path):
    cells_path = run.with_name("helsinki_work") / "cells.gpkg"
    cells = read_cell_layer(cells_path)
    out = tmp_path / "images"
    args = ["images", str(cells_path), "--image-level", "14", "--min-support", "0.05"]
    assert main([*args, "--output", str(out)]) == 0
    kept = ImageDataset.open(out).feature_names
    support = (cells[feature_columns(cells)] > 0).mean()
    assert list(kept) == support.index[support >= 0.05].tolist()
    assert 0 < len(kept) < len(support)
