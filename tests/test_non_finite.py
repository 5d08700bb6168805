"""Non-finite values (issue 23, item 7): settings, losses, weights, embeddings, coordinates.

NaN and infinity never pass silently: a setting is refused, training stops
before it writes NaN weights, no NaN model or embedding layer is published,
and coordinates that are not finite or not in their CRS's domain are dropped
with a count or refused in one line.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import torch
from pyproj import CRS
from synthetic_cells import TINY_MODEL, synthetic_cells
from test_reliability import cli, digests, one_error

import s2vec_geo as sv
from s2vec_geo.embeddings.embed import embed
from s2vec_geo.evaluation.labels import read_labels
from s2vec_geo.images import build_images
from s2vec_geo.images.sampler import WindowSampler
from s2vec_geo.io.coordinates import outside_domain
from s2vec_geo.model.file import load_model
from s2vec_geo.model.training import TrainConfig, train
from s2vec_geo.s2 import to_lnglat


@pytest.fixture(scope="module")
def cells():
    return synthetic_cells(n_parents=12)


@pytest.fixture(scope="module")
def images(cells, tmp_path_factory):
    return build_images(cells, image_level=10, out=tmp_path_factory.mktemp("img") / "images")


def _config(**overrides: object) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 4, "lr": 3e-3, "model": TINY_MODEL, "init": "none"}
    return TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def run(images, tmp_path_factory):
    """A finished tiny run that kept its checkpoint."""
    out = tmp_path_factory.mktemp("run") / "run"
    train(images, _config(keep_checkpoint=True), out=out)
    return out


# -- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lr", "weight_decay"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_learning_rate_and_weight_decay_are_refused(name, value) -> None:
    with pytest.raises(ValueError, match=rf"TrainConfig\.{name} must be a finite number"):
        _config(**{name: value})


def test_cli_refuses_an_infinite_learning_rate_before_any_work(images, tmp_path, capsys):
    status, err = cli(["train", images.root, "-o", tmp_path / "r", "--lr", "inf"], capsys)
    assert status == 2
    assert "lr must be a finite number > 0, got inf" in one_error(err)
    assert not (tmp_path / "r").exists()
    status, err = cli(["train", images.root, "-o", tmp_path / "r", "--weight-decay", "nan"], capsys)
    assert status == 2 and "weight_decay must be a finite number >= 0" in one_error(err)


# -- training ----------------------------------------------------------------------------


def test_a_diverging_run_stops_and_leaves_the_last_good_files_as_they_were(run, images):
    before = digests(run)
    assert {"model.pt", "checkpoint.pt"} <= set(before)
    with pytest.raises(ValueError, match=r"training stopped at epoch 1.* is nan.*lower --lr"):
        train(images, _config(lr=1e6), out=run, overwrite=True)
    after = digests(run)
    assert after["model.pt"] == before["model.pt"]
    assert after["checkpoint.pt"] == before["checkpoint.pt"]
    assert not [name for name in after if name.startswith(".")]  # no temporary, no lock


def test_a_nan_loss_stops_training_at_its_step_and_resume_continues_from_the_last_epoch(
    images, tmp_path, monkeypatch
):
    epochs = []
    real = WindowSampler.train_batches

    def nan_in_the_second_epoch(self, *args, **kwargs):
        epochs.append(len(epochs) + 1)
        for x, valid in real(self, *args, **kwargs):
            yield (x * math.nan if len(epochs) == 2 else x), valid

    monkeypatch.setattr(WindowSampler, "train_batches", nan_in_the_second_epoch)
    run, config = tmp_path / "run", _config(epochs=3, checkpoint_every=0)
    with pytest.raises(ValueError, match=r"at epoch 2, step 1: the training loss is nan; likely"):
        train(images, config, out=run)
    assert {p.name for p in run.iterdir()} <= {"checkpoint.pt", "history.json"}  # no model
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(WindowSampler, "train_batches", real)  # the cause is gone
    model = train(images, config, out=run, resume=True)
    assert [r["epoch"] for r in model.history] == [1, 2, 3]
    assert (run / "model.pt").is_file()


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_images_are_never_built_from_non_finite_counts(cells, value) -> None:
    bad = cells.copy()
    bad.iloc[3, 1] = value
    with pytest.raises(ValueError, match=r"feature 'roads' has NaN or infinite values in 1 cells"):
        build_images(bad, image_level=10)


def test_images_with_nan_in_a_shard_are_refused_before_training(images, tmp_path, capsys):
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for name, _ in digests(images.root).items():
        (tampered / name).write_bytes((images.root / name).read_bytes())
    shard = np.load(tampered / "images-00000.npy", mmap_mode="r+")
    image, pixel = np.argwhere(np.load(tampered / "mask-00000.npy"))[0]
    shard[image, pixel, 1] = np.nan
    shard.flush()
    status, err = cli(["train", tampered, "-o", tmp_path / "r", "--epochs", "1"], capsys)
    assert status == 2
    line = one_error(err)
    assert "hold NaN or infinite values" in line and "rebuild them" in line
    assert not (tmp_path / "r").exists()  # the run folder this call made is gone again


# -- models and embeddings ---------------------------------------------------------------


def _poisoned(run) -> sv.S2VecModel:
    model = load_model(run)
    with torch.no_grad():
        model.module.patch_embed.weight[0, 0] = math.nan
    return model


def test_a_model_file_with_nan_weights_is_refused(run, tmp_path) -> None:
    path = _poisoned(run).save(tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=r"holds NaN or infinite weights .*patch_embed\.weight"):
        load_model(path)


@pytest.mark.parametrize("mode", ["contextual", "patch"])
def test_embed_refuses_nan_embeddings_and_writes_no_layer(run, cells, mode) -> None:
    with pytest.raises(ValueError, match=r"gives NaN or infinite embeddings for \d+ of \d+ cells"):
        embed(cells, _poisoned(run), mode=mode)


def test_cli_embed_with_a_nan_model_exits_2_and_writes_nothing(run, cells, tmp_path, capsys):
    layer = sv.write_layer(sv.cells_frame(cells.index.to_numpy()).join(cells), tmp_path / "c.gpkg")
    model = _poisoned(run).save(tmp_path / "nan.pt")
    status, err = cli(["embed", layer, "-m", model, "-o", tmp_path / "emb.gpkg"], capsys)
    assert status == 2 and "NaN or infinite weights" in one_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.gpkg", "nan.pt"]


# -- coordinates -------------------------------------------------------------------------

FINITE = [shapely.Point(24.94, 60.17), shapely.Point(24.95, 60.18)]
NOT_FINITE = [shapely.Point(math.inf, 60.0), shapely.Point(24.9, math.nan)]


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    """Points with NaN and infinite coordinates (GeoPackage, GeoParquet), a point no place on
    Earth has (EPSG:3857), and an embedding table of the finite points' cells."""
    folder = tmp_path_factory.mktemp("layers")
    mixed = gpd.GeoDataFrame(
        {"category": ["cafe", "bar", "cafe", "bar"]}, geometry=FINITE + NOT_FINITE, crs=4326
    )
    mixed.to_file(folder / "mixed.gpkg")
    mixed.to_parquet(folder / "mixed.parquet")
    far = gpd.GeoDataFrame(
        {"category": ["cafe", "bar"]},
        geometry=[shapely.Point(2776000.0, 8437000.0), shapely.Point(1e12, 1e12)],
        crs=3857,
    )
    far.to_file(folder / "far.gpkg")
    table = sv.cells_frame(sv.point_cells(gpd.GeoSeries(FINITE, crs=4326), 14).to_numpy())
    sv.write_layer(table.assign(emb_000=1.0), folder / "emb.gpkg")
    return folder


def _arguments(command: str, layers) -> list:
    return {
        "cells": ["--level", "14"],
        "cover": ["--level", "14"],
        "join": ["-e", layers / "emb.gpkg"],
        "featurize": ["--level", "14", "--category-column", "category"],
    }[command]


@pytest.mark.parametrize("name", ["mixed.gpkg", "mixed.parquet"])
@pytest.mark.parametrize("command", ["cells", "cover", "join", "featurize"])
def test_features_with_non_finite_coordinates_are_skipped_with_a_count(
    layers, name, command, tmp_path, capsys, caplog
):
    out = tmp_path / "out.gpkg"
    status, err = cli([command, layers / name, *_arguments(command, layers), "-o", out], capsys)
    assert status == 0, err
    written = gpd.read_file(out, layer="out")
    if command == "join":  # every row kept: the two without a place have no embedding
        assert "kept 2 features with NaN or infinite coordinates" in caplog.text
        assert written["emb_000"].tolist()[:2] == [1.0, 1.0]
        assert written["emb_000"][2:].isna().all()
    elif command == "featurize":
        assert "2 NaN or infinite coordinates" in caplog.text
        assert written[["poi_cafe", "poi_bar"]].to_numpy().sum() == 2
    else:
        assert "skipped 2 features with NaN or infinite coordinates" in caplog.text
        assert len(written) == 2


@pytest.mark.parametrize("command", ["cells", "cover", "join", "featurize"])
def test_coordinates_outside_the_crs_domain_are_refused(layers, command, tmp_path, capsys):
    out = tmp_path / "out.gpkg"
    status, err = cli(
        [command, layers / "far.gpkg", *_arguments(command, layers), "-o", out], capsys
    )
    assert status == 2
    line = one_error(err)
    assert "far.gpkg: 1 coordinate lies outside the area EPSG:3857" in line
    assert "x=1e+12, y=1e+12" in line and "set the layer's true CRS" in line
    assert list(tmp_path.iterdir()) == []


def test_geometries_in_memory_follow_the_same_rule(caplog) -> None:
    mixed = gpd.GeoSeries(FINITE + NOT_FINITE, crs=4326)
    with pytest.raises(ValueError, match=r"2 of 4 rows are not \(non-empty\) points"):
        sv.point_cells(mixed, 14)
    assert "2 of 4 have NaN or infinite coordinates" in caplog.text
    with pytest.raises(ValueError, match="not a geometry; drop rows with missing geometry"):
        sv.cover(mixed, 14)
    with pytest.raises(ValueError, match="outside the area EPSG:3857"):
        sv.cover(gpd.GeoSeries([shapely.Point(1e12, 0.0)], crs=3857), 14)
    frame = gpd.GeoDataFrame({"category": ["cafe", "bar", "cafe", "bar"]}, geometry=mixed)
    assert len(sv.read_features(frame, category_column="category")) == 2
    with pytest.raises(ValueError, match="2 of 4 geometries have NaN or infinite coordinates"):
        sv.cover(list(mixed.values), 14)  # plain shapely geometries (lon/lat)


def test_labels_with_non_finite_coordinates_count_as_missing(caplog) -> None:
    table = pd.DataFrame({"lon": [24.94, math.inf, 24.95], "lat": [60.17, 60.1, math.nan]})
    table["price"] = [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match=r"2 of 3 labels .* 2 have no geometry or NaN or inf"):
        read_labels(table, "price")
    assert read_labels(table, "price", drop_missing=True)["price"].tolist() == [1.0]
    far = gpd.GeoDataFrame({"price": [1.0]}, geometry=[shapely.Point(0.0, 1e12)], crs=3857)
    with pytest.raises(ValueError, match="the labels: 1 coordinate lies outside the area EPSG"):
        read_labels(far, "price")


@pytest.mark.parametrize(
    ("crs", "x", "y"),
    [
        (3857, 2.05e7, 0.0),  # past the antimeridian: Fiji drawn in one piece
        (3857, 0.0, 3.0e7),  # north of the map's 85 degrees, still a place
        (32635, 1_400_000.0, 6_700_000.0),  # UTM 35N, 900 km east of its zone's meridian
        (3067, 200_000.0, 6_200_000.0),  # Finland's TM35FIN, in Estonia
        (4326, 190.0, 89.0),
    ],
)
def test_places_near_the_edges_of_a_crs_are_kept(crs, x, y) -> None:
    assert not outside_domain(np.array([[x, y]]), CRS.from_epsg(crs)).any()
    lnglat = to_lnglat(gpd.GeoSeries([shapely.Point(x, y)], crs=crs))
    assert np.isfinite(shapely.get_coordinates(lnglat.values)).all()


@pytest.mark.parametrize(
    ("crs", "x", "y"),
    [
        (3857, 1e12, 0.0),
        (3857, 0.0, 1e12),
        (32635, 1e9, 6e6),
        (4326, 10.0, 91.0),
        (4326, 2_776_000.0, 84.0),  # a projected x in a layer said to be in degrees
        (2154, 1e15, 1e15),
    ],
)
def test_numbers_no_place_has_are_outside_the_domain(crs, x, y) -> None:
    assert outside_domain(np.array([[x, y]]), CRS.from_epsg(crs)).all()
