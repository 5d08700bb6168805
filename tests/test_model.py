"""The masked autoencoder and the model file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2vec_geo.images.normalization import NormStats
from s2vec_geo.model.file import S2VecModel, load_model
from s2vec_geo.model.mae import MAEConfig, MaskedAutoencoder

CFG = MAEConfig(
    num_features=3, grid=4, embed_dim=16, depth=2, num_heads=2, decoder_dim=8, decoder_depth=1
)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 16, 3, generator=g)
    valid = torch.ones(3, 16, dtype=torch.bool)
    valid[1, 10:] = False  # 10 valid cells
    valid[2, ::2] = False  # 8 valid cells, scattered
    return x, valid


def _mae(seed: int = 0, **overrides: object) -> MaskedAutoencoder:
    torch.manual_seed(seed)
    cfg = MAEConfig(**{**CFG.__dict__, "dropout": 0.0, **overrides})
    return MaskedAutoencoder(cfg).eval()


def test_measured_defaults() -> None:
    """Half the paper's width and depth, no dropout, fixed sine-cosine positions."""
    cfg = MAEConfig(num_features=116, grid=16)
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads) == (128, 3, 4)
    assert (cfg.decoder_dim, cfg.decoder_depth, cfg.dropout) == (64, 2, 0.0)
    assert cfg.pos_embed == "sincos"
    assert MAEConfig.from_dict({"num_features": 2, "grid": 4}).pos_embed == "learned"


def test_masking_chooses_among_valid_tokens_only() -> None:
    x, valid = _batch()
    out = _mae()(x, valid, mask_ratio=0.75, generator=torch.Generator().manual_seed(1))
    assert not bool((out.masked & ~valid).any())
    # round(n_valid * 0.25) tokens stay visible, the rest of the valid ones are masked
    assert out.masked.sum(dim=1).tolist() == [16 - 4, 10 - 2, 8 - 2]
    assert int(out.count) == 12 + 8 + 6
    torch.testing.assert_close(out.loss, out.sse / out.count)


def test_invalid_pixels_do_not_influence_loss_or_encoding() -> None:
    x, valid = _batch()
    garbage = x.clone()
    garbage[~valid] = 1e4
    mae = _mae()
    a = mae(x, valid, generator=torch.Generator().manual_seed(3))
    b = mae(garbage, valid, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.loss, b.loss)
    torch.testing.assert_close(a.pred[valid], b.pred[valid])
    ea, eb = mae.encode(x, valid), mae.encode(garbage, valid)
    torch.testing.assert_close(ea[valid], eb[valid])


@torch.no_grad()
def test_loss_is_the_error_on_masked_tokens() -> None:
    x, valid = _batch()
    mae = _mae()
    noise = torch.rand(3, 16, generator=torch.Generator().manual_seed(5))
    out = mae(x, valid, noise=noise)
    expected = ((out.pred - x) ** 2).mean(-1)[out.masked].mean()
    torch.testing.assert_close(out.loss, expected)
    # The lowest-noise valid tokens are the visible ones.
    i, j = map(int, torch.nonzero(valid & ~out.masked)[0])
    assert float(noise[i, j]) <= float(noise[i][out.masked[i]].min())


@torch.no_grad()
def test_masks_are_seeded() -> None:
    x, valid = _batch()
    mae = _mae()
    a = mae(x, valid, generator=torch.Generator().manual_seed(7))
    b = mae(x, valid, generator=torch.Generator().manual_seed(7))
    c = mae(x, valid, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.masked, b.masked) and torch.equal(a.pred, b.pred)
    assert not torch.equal(a.masked, c.masked)


def test_bad_input_raises() -> None:
    mae = _mae()
    x, valid = _batch()
    with pytest.raises(ValueError, match="expected images of shape"):
        mae(x[:, :8], valid[:, :8])
    with pytest.raises(ValueError, match="at least one valid token"):
        mae(x, torch.zeros_like(valid))
    with pytest.raises(ValueError, match="mask_ratio"):
        mae(x, valid, mask_ratio=1.0)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        MAEConfig(num_features=3, grid=4, embed_dim=10, num_heads=4)


def _stats(names: list[str]) -> NormStats:
    return NormStats(np.zeros(len(names)), np.ones(len(names)), log1p=True, feature_names=names)


def test_model_file_round_trip(tmp_path) -> None:
    names = ["shop", "school", "roads"]
    model = S2VecModel(
        _mae(seed=4),
        stats=_stats(names),
        feature_names=names,
        patch_level=14,
        image_level=12,
        taxonomy_version="osm-1",
        history=[{"epoch": 1, "train_loss": 0.5}],
    )
    path = model.save(tmp_path / "model.pt")
    raw = torch.load(path, weights_only=True)  # plain content: no code on load
    assert raw["feature_names"] == names and raw["taxonomy_version"] == "osm-1"
    assert (raw["patch_level"], raw["image_level"], raw["grid"]) == (14, 12, 4)
    loaded = load_model(path)
    assert loaded.stats == model.stats and loaded.config == model.config
    assert loaded.history == model.history and not loaded.module.training
    x, valid = _batch()
    torch.testing.assert_close(loaded.module.encode(x, valid), model.module.encode(x, valid))


def test_check_features_names_the_difference() -> None:
    names = ["shop", "school", "roads"]
    model = S2VecModel(_mae(), _stats(names), names, patch_level=14, image_level=12)
    model.check_features(names)
    with pytest.raises(ValueError, match=r"missing \['roads'\].*extra \['bars'\]"):
        model.check_features(["shop", "school", "bars"])
    with pytest.raises(ValueError, match="different order"):
        model.check_features(["roads", "shop", "school"])


def test_load_model_rejects_other_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="s2vec train"):
        load_model(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="not an s2vec model file"):
        load_model(other)
