"""Non-finite values (issue 23, item 7): settings, losses, weights, embeddings, coordinates.

NaN and infinity never pass silently: a setting is refused, training stops
before it writes NaN weights, no NaN model or embedding layer is published,
and coordinates that are not finite or not in their CRS's domain are dropped
with a count or refused in one line.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from synthetic_cells import TINY_MODEL, synthetic_cells
from test_reliability import cli, digests, one_error

import s2vec_geo as sv
from s2vec_geo.embeddings.embed import embed
from s2vec_geo.images import build_images
from s2vec_geo.model.file import load_model
from s2vec_geo.model.training import TrainConfig, train


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
    assert not (tmp_path / "r" / "model.pt").exists()


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
