"""Windows instead of tiles: lattice lookups, training windows, seamless inference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic_cells import FEATURES, TINY_MODEL, synthetic_cells

import s2vec_geo as sv
from s2vec_geo.embeddings.embed import embed
from s2vec_geo.embeddings.seams import seams
from s2vec_geo.images import build_images
from s2vec_geo.images.collection import ImageCollection
from s2vec_geo.images.sampler import WindowSampler
from s2vec_geo.images.windows import (
    LatticeIndex,
    blend_weights,
    sliding_origins,
    surrounding_tiles,
    tile_tokens,
)
from s2vec_geo.model.training import TrainConfig, train

CPU = torch.device("cpu")


def block_cells(lat: float, lng: float, parent_level: int, level: int) -> np.ndarray:
    """All level-``level`` cells of the parent at ``parent_level`` containing the point."""
    return sv.cell_children(sv.latlng_to_cell(lat, lng, parent_level), level)


@pytest.fixture(scope="module")
def area() -> pd.DataFrame:
    """4 x 4 level-10 tiles of 4 x 4 level-12 cells, every cell present, value = a cell id code."""
    ids = block_cells(48.2, 16.4, 8, 12)
    frame = pd.DataFrame(
        {"code": np.arange(len(ids), dtype=np.float64)}, index=pd.Index(ids, name="cell_id")
    )
    return frame


def test_windows_straddle_tiles_and_shards(area, tmp_path) -> None:
    ds = build_images(area, 10, out=tmp_path / "imgs", shard_size=1, log1p=False)  # 1 tile/shard
    assert len(ds) == 16 and len(ds.meta["shards"]) == 16
    tiles = LatticeIndex([ds.parents], 10)
    face, ti, tj = (torch.from_numpy(a) for a in sv.cell_face_ij(ds.parents[:1]))
    tokens = tile_tokens(tiles, torch.zeros(1, dtype=torch.long), face, ti * 4 + 2, tj * 4 + 3, 4)
    # every token resolves to the cell at that lattice position
    _, ci, cj = sv.cell_face_ij(area.index.to_numpy())
    want_i = (ti * 4 + 2 + torch.arange(4)[:, None]).expand(4, 4).reshape(-1).numpy()
    want_j = (tj * 4 + 3 + torch.arange(4)[None, :]).expand(4, 4).reshape(-1).numpy()
    collection = ImageCollection(ds)
    x, _ = collection.tiles(np.arange(16))
    flat = x.reshape(-1, 1)
    got = flat[tokens[0].numpy(), 0]
    lookup = {(int(a), int(b)): v for a, b, v in zip(ci, cj, area["code"], strict=True)}
    mean, std = ds.stats.mean[0], ds.stats.std[0]
    expected = [(lookup[ab] - mean) / std for ab in zip(want_i, want_j, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert len({int(t) // 16 for t in tokens[0]}) == 4  # the window spans four tiles


def test_off_face_and_missing_tiles_are_holes(area) -> None:
    ds = build_images(area, image_level=10)
    tiles = LatticeIndex([ds.parents], 10)
    face, ti, tj = (torch.from_numpy(a) for a in sv.cell_face_ij(ds.parents[:1]))
    group = torch.zeros(1, dtype=torch.long)
    assert (tile_tokens(tiles, group, face, torch.tensor([-2]), torch.tensor([-2]), 4) == -1).all()
    far = tile_tokens(tiles, group, face, ti * 4 + 1000, tj * 4, 4)
    assert (far == -1).all()


def test_training_windows_cover_cells_evenly_and_never_see_held_out_tiles(area) -> None:
    ds = build_images(area, image_level=10)
    collection = ImageCollection(ds)
    val = np.array([5, 10])
    train_tiles = np.setdiff1d(np.arange(len(ds)), val)
    sampler = WindowSampler(collection, train_tiles, val, device=CPU)
    val_tokens = set(range(5 * 16, 6 * 16)) | set(range(10 * 16, 11 * 16))
    seen = np.zeros(len(ds) * 16)
    positions = np.zeros((len(ds) * 16, 16))
    for epoch in range(300):
        tokens = sampler.tokens(*sampler.draw(torch.Generator().manual_seed(epoch)))
        valid = sampler.store.validity(tokens)
        hit = tokens[valid].numpy()
        assert not val_tokens & set(hit.tolist()), "a held-out tile entered a training window"
        np.add.at(seen, hit, 1)
        np.add.at(positions, (hit, np.nonzero(valid.numpy())[1]), 1)
    # cells with all four neighbouring tiles trained on: seen once per epoch on average
    inner = [t for t in train_tiles if t in (0, 1, 2, 3)]
    mean = seen.reshape(len(ds), 16)[inner].mean() / 300
    assert 0.6 < mean <= 1.05
    # ... and at every position of the window
    used = positions[seen > 0]
    assert (used > 0).mean() > 0.5


def test_aligned_windows_are_the_tiles(area) -> None:
    ds = build_images(area, image_level=10)
    sampler = WindowSampler(
        ImageCollection(ds), np.arange(16), np.array([], dtype=int), windows="aligned", device=CPU
    )
    x, valid = next(sampler.train_batches(torch.Generator().manual_seed(0), 16))
    stacked = torch.stack([ds[i][0] for i in range(16)])
    got = {tuple(row.flatten().tolist()) for row in x}
    assert got == {tuple(row.flatten().tolist()) for row in stacked}
    assert bool(valid.all())


def test_streamed_and_resident_tiles_give_the_same_batches(area, tmp_path) -> None:
    ds = build_images(area, 10, out=tmp_path / "imgs", shard_size=3)
    collection = ImageCollection(ds)
    batches = []
    for preload in (True, False):
        sampler = WindowSampler(
            collection, np.arange(14), np.array([14, 15]), device=CPU, preload=preload
        )
        assert sampler.store.resident is preload
        batches.append(list(sampler.train_batches(torch.Generator().manual_seed(3), 5)))
    for (xa, va), (xb, vb) in zip(*batches, strict=True):
        assert torch.equal(xa, xb) and torch.equal(va, vb)


def test_sliding_origins_put_each_cell_in_every_overlapping_window(area) -> None:
    face, i, j = sv.cell_face_ij(area.index.to_numpy())
    for stride in (1, 2, 4):
        _, oi, oj = sliding_origins(face, i, j, 4, stride)
        inside = (
            (oi[None, :] <= i[:, None])
            & (i[:, None] < oi[None, :] + 4)
            & (oj[None, :] <= j[:, None])
            & (j[:, None] < oj[None, :] + 4)
        )
        assert (inside.sum(axis=1) == (4 // stride) ** 2).all()
    with pytest.raises(ValueError, match="stride 3"):
        sliding_origins(face, i, j, 4, 3)


def test_blend_weights_sum_to_one_along_overlapping_windows() -> None:
    tent = blend_weights(8, 4).reshape(8, 8)[3] / blend_weights(8, 4).reshape(8, 8)[3, 3]
    one_axis = blend_weights(8, 4).reshape(8, 8).sum(0) / blend_weights(8, 4).reshape(8, 8).sum()
    assert torch.all(tent > 0)
    np.testing.assert_allclose((one_axis[:4] + one_axis[4:]).numpy() * 4, 1.0, rtol=1e-6)
    assert torch.equal(blend_weights(8, 8), torch.ones(64))


def test_surrounding_tiles_stay_on_the_face() -> None:
    corner = sv.face_ij_to_cell(2, 0, 0, 5)
    assert len(surrounding_tiles(corner)) == 3  # a face corner has three neighbours on its face


@pytest.fixture(scope="module")
def smooth_cells() -> pd.DataFrame:
    """A smooth field over 6 x 6 tiles: neighbours across tile borders are alike."""
    ids = block_cells(60.17, 24.94, 9, 13)  # level-9 parent: 8 x 8 tiles of 4 x 4 at level 11
    _, i, j = sv.cell_face_ij(ids)
    rng = np.random.default_rng(0)
    base = np.sin(i / 5.0) + np.cos(j / 7.0)
    lam = np.exp(1.5 + np.stack([base, -base, 0.5 * base, np.sin((i + j) / 4.0)], axis=1))
    frame = pd.DataFrame(
        rng.poisson(lam).astype(np.float64), columns=FEATURES, index=pd.Index(ids, name="cell_id")
    )
    frame.attrs["taxonomy_version"] = "synthetic-1"
    return frame


def test_sliding_windows_leave_no_seam_where_aligned_tiles_do(smooth_cells) -> None:
    images = build_images(smooth_cells, image_level=10)
    ratios = {}
    for windows in ("sliding", "aligned"):
        config = TrainConfig(epochs=4, batch_size=8, lr=3e-3, windows=windows, model=TINY_MODEL)
        model = train(images, config)
        ratios[windows] = seams(embed(smooth_cells, model), 10).ratio
    assert ratios["sliding"] <= 1.10, ratios
    assert ratios["aligned"] > ratios["sliding"] + 0.1, ratios
    assert seams(smooth_cells, 10).ratio <= 1.10  # the raw counts themselves


def test_two_areas_train_one_model_normalized_over_both(tmp_path) -> None:
    a = synthetic_cells(n_parents=12, seed=1)
    b = synthetic_cells(n_parents=12, seed=2)
    b.index = pd.Index(
        sv.cell_children(sv.latlng_to_cell(-33.9, 151.2, 6), 13)[: len(b)], name="cell_id"
    )
    ia, ib = build_images(a, 10, out=tmp_path / "a"), build_images(b, 10, out=tmp_path / "b")
    config = TrainConfig(epochs=2, batch_size=8, lr=3e-3, model=TINY_MODEL)
    model = train([tmp_path / "a", tmp_path / "b"], config)
    union = build_images(pd.concat([a, b]), 10)
    np.testing.assert_allclose(model.stats.mean, union.stats.mean, rtol=1e-9)
    np.testing.assert_allclose(model.stats.std, union.stats.std, rtol=1e-9)
    assert model.stats.count == len(a) + len(b)
    assert len(ia) + len(ib) == len(union)
    emb = embed(b, model)  # one of the areas, with the joint model
    assert emb.index.equals(b.index) and np.isfinite(emb.filter(like="emb_").to_numpy()).all()
    # the accessor trains the same model from the two frames
    again = a.s2vec.train(10, others=[b], config=config)
    for name, value in model.module.state_dict().items():
        assert torch.equal(value, again.module.state_dict()[name]), name


def test_datasets_that_cannot_train_together_are_refused(tmp_path) -> None:
    a = synthetic_cells(n_parents=6, seed=1)
    coarse = build_images(a, 9)
    with pytest.raises(ValueError, match="image_level 9 but dataset 0 has 10"):
        ImageCollection([build_images(a, 10), coarse])
    other = a.rename(columns={c: f"x_{c}" for c in FEATURES})
    with pytest.raises(ValueError, match="share no feature"):
        ImageCollection([build_images(a, 10), build_images(other, 10)])
    fewer = ImageCollection([build_images(a, 10), build_images(a[FEATURES[:2]], 10)])
    assert fewer.feature_names == FEATURES[:2]


def test_too_small_data_and_no_learning_are_reported(caplog) -> None:
    one = synthetic_cells(n_parents=2, seed=0)
    config = TrainConfig(epochs=1, batch_size=2, model=TINY_MODEL)
    with caplog.at_level("WARNING", logger="s2vec_geo.model.training"):
        train(build_images(one, 10), config)
    text = caplog.text
    assert "too little data" in text
    assert "does not beat its baselines" in text and "by the 2 % margin asked" in text


def test_cli_trains_one_model_on_two_image_folders(tmp_path) -> None:
    from s2vec_geo.cli import main

    a = synthetic_cells(n_parents=6, seed=1)
    b = synthetic_cells(n_parents=6, seed=2)
    b.index = pd.Index(
        sv.cell_children(sv.latlng_to_cell(-33.9, 151.2, 6), 13)[: len(b)], name="cell_id"
    )
    build_images(a, 10, out=tmp_path / "a")
    build_images(b, 10, out=tmp_path / "b")
    tiny = ["--epochs", "1", "--batch-size", "4", "--embed-dim", "16", "--depth", "1"]
    tiny += ["--num-heads", "2", "--decoder-dim", "8", "--decoder-depth", "1"]
    args = ["train", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "run")]
    assert main([*args, *tiny]) == 0
    model = sv.load_model(tmp_path / "run")
    assert model.stats.count == len(a) + len(b)  # normalized over both areas
    assert model.history[-1]["val_neighbor_baseline"] > 0


@pytest.mark.parametrize("lat, lng", [(60.17, 24.94), (-33.87, 151.21), (40.71, -74.01)])
def test_a_turned_window_is_a_window_of_true_s2_neighbours(lat: float, lng: float) -> None:
    """Each of the 8 symmetries keeps edge neighbours as edge neighbours (real cell ids)."""
    from s2vec_geo.images.augment import dihedral, dihedral_permutations, random_symmetries
    from s2vec_geo.s2 import cell_edge_neighbors, cell_face_ij, face_ij_to_cell, latlng_to_cell

    grid, level = 8, 16
    face, i, j = cell_face_ij(latlng_to_cell(lat, lng, level))
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    ids = face_ij_to_cell(face, i + rows.ravel(), j + cols.ravel(), level)  # row-major
    neighbours = {int(c): set(cell_edge_neighbors(int(c)).tolist()) for c in ids}
    seen = set()
    for order in dihedral_permutations(grid):
        window = ids[order.numpy()].reshape(grid, grid)
        seen.add(tuple(window.ravel().tolist()))
        for a, b in [
            *zip(window[:, :-1].ravel(), window[:, 1:].ravel(), strict=True),
            *zip(window[:-1].ravel(), window[1:].ravel(), strict=True),
        ]:
            assert int(b) in neighbours[int(a)]
    assert len(seen) == 8  # eight different windows, all of the same 64 cells
    # the batch function turns values and validity alike, one symmetry per window
    x = torch.arange(grid * grid, dtype=torch.float32).reshape(1, -1, 1).repeat(16, 1, 1)
    valid = torch.ones(16, grid * grid, dtype=torch.bool)
    valid[:, 0] = False  # token 0 holds no cell
    pick = random_symmetries(16, torch.Generator().manual_seed(1))
    turned, turned_valid = dihedral(x, valid, pick)
    orders = {tuple(o.tolist()) for o in dihedral_permutations(grid)}
    for k in range(16):
        assert tuple(turned[k, :, 0].long().tolist()) in orders
        assert turned_valid[k].tolist() == (turned[k, :, 0] != 0).tolist()
