"""The model bundled with the package: it loads offline, embeds the bundled sample, and
fine-tunes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import s2vec_geo as sv
from s2vec_geo.ingest.taxonomy.tags import load_taxonomy
from s2vec_geo.model.file import pretrained_path
from s2vec_geo.model.training import TrainConfig

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "data" / "helsinki.osm.pbf"


@pytest.fixture(scope="module")
def cells():
    return sv.featurize(SAMPLE, level=16)


def test_the_pretrained_model_ships_in_the_package_small_and_documented() -> None:
    path = pretrained_path()
    assert path.is_file() and path.stat().st_size < 4 * 2**20  # half precision, a few MB
    model = sv.load_model("pretrained")
    assert (model.patch_level, model.image_level, model.config.grid) == (16, 12, 16)
    assert model.taxonomy_version == load_taxonomy("v1").version
    assert model.config.pos_embed == "sincos" and model.embed_dim == 128
    assert all(p.dtype == torch.float32 for p in model.module.parameters())


def test_the_pretrained_model_embeds_the_bundled_sample(cells) -> None:
    first = sv.embed(cells, "pretrained")
    again = sv.embed(cells, sv.load_model("pretrained"))
    values = first.filter(like="emb_").to_numpy()
    assert len(first) == len(cells) and values.shape[1] == 128
    assert np.isfinite(values).all() and values.std(axis=0).mean() > 0
    np.testing.assert_array_equal(values, again.filter(like="emb_").to_numpy())


def test_fine_tuning_starts_from_the_pretrained_weights(cells, tmp_path: Path) -> None:
    images = sv.build_images(cells, 12, out=tmp_path / "images")
    base = sv.load_model("pretrained")
    tuned = sv.train(images, TrainConfig(epochs=1, init="pretrained", val_fraction=0.0))
    assert tuned.config == base.config and tuned.stats == base.stats
    assert tuned.feature_names == base.feature_names
    moved = [
        float((tuned.module.state_dict()[k] - v).abs().max())
        for k, v in base.module.state_dict().items()
    ]
    assert 0 < max(moved) < 0.05  # one epoch nudges the pretrained weights, no restart
    with pytest.raises(ValueError, match="keeps the architecture"):
        sv.train(images, TrainConfig(epochs=1, init="pretrained", model={"depth": 1}))


def test_training_starts_from_the_pretrained_model_when_the_images_fit(cells, caplog) -> None:
    """The default ('auto'): fine-tune at levels 16/12 with taxonomy v1; random weights at
    other levels, with an architecture of one's own, or with init='none'."""
    base = sv.load_model("pretrained")
    fits = sv.build_images(cells, 12)
    with caplog.at_level("INFO", logger="s2vec_geo.model.training"):
        tuned = sv.train(fits, TrainConfig(epochs=1, val_fraction=0.0))
    assert "starting from the pretrained model" in caplog.text
    assert tuned.config == base.config and tuned.stats == base.stats
    fresh = sv.train(fits, TrainConfig(epochs=1, val_fraction=0.0, init="none"))
    assert fresh.stats != base.stats
    other = sv.train(sv.build_images(sv.featurize(SAMPLE, level=17), 13), TrainConfig(epochs=1))
    assert other.config.grid == 16 and other.stats != base.stats  # levels 17/13: from scratch
    own = sv.train(fits, TrainConfig(epochs=1, model={"embed_dim": 32, "decoder_dim": 16}))
    assert own.embed_dim == 32
    with pytest.raises(ValueError, match="cannot start this training: the images are at levels"):
        sv.train(
            sv.build_images(sv.featurize(SAMPLE, level=17), 13), TrainConfig(init="pretrained")
        )
