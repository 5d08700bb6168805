"""S2Vec images: true S2 layout, streaming build, normalization, sharded dataset."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import s2geometry as s2g
import torch

import s2vec_geo.accessor  # noqa: F401  (registers gdf.s2vec)
from s2vec_geo.cli import main
from s2vec_geo.core.schema import feature_columns
from s2vec_geo.features.featurize import featurize
from s2vec_geo.images import ImageDataset, NormStats, build_images, plot_image
from s2vec_geo.io.layers import write_layer
from s2vec_geo.s2 import cell_children, cell_parent, cells_frame, latlng_to_cell

PATCH, IMAGE = 14, 10
CITIES = {
    "nyc": (40.7128, -74.0060),
    "reykjavik": (64.1466, -21.9426),
    "sydney": (-33.8688, 151.2093),
    "singapore": (1.3521, 103.8198),
}


def city_cells(lat: float, lng: float, seed: int = 0, n: int = 5000) -> pd.DataFrame:
    """Featurized level-14 cells scattered over ~13 x 13 km around a city (deterministic).

    Column ``ident`` is the row number: it tells which input cell a pixel holds.
    """
    rng = np.random.default_rng(seed)
    half_lng = 0.06 / np.cos(np.radians(lat))
    ids = latlng_to_cell(
        lat + rng.uniform(-0.06, 0.06, n), lng + rng.uniform(-half_lng, half_lng, n), PATCH
    )
    ids = np.unique(ids)
    return pd.DataFrame(
        {
            "ident": np.arange(len(ids), dtype=np.int64),
            "shops": rng.poisson(0.8, len(ids)) * rng.integers(1, 40, len(ids)),
            "roads": rng.poisson(3.0, len(ids)),
        },
        index=pd.Index(ids, name="cell_id"),
    )


@pytest.fixture(scope="module")
def nyc() -> pd.DataFrame:
    return city_cells(*CITIES["nyc"])


def placed_cells(ds: ImageDataset, cells: pd.DataFrame, i: int) -> np.ndarray:
    """Cell id held by each pixel of image ``i`` (0 where empty), read from the data."""
    ident = ds.raw(i)[:, ds.feature_names.index("ident")].astype(np.int64)
    return np.where(ds.mask(i), cells.index.to_numpy()[ident], 0)


def edge_neighbours(a: int, b: int) -> bool:
    """Whether two cell ids share an edge, by s2geometry itself."""
    cell = s2g.S2CellId(int(np.int64(a).view(np.uint64)))
    return int(np.int64(b).view(np.uint64)) in {n.id() for n in cell.GetEdgeNeighbors()}


@pytest.mark.parametrize("city", list(CITIES))
def test_adjacent_pixels_are_true_s2_neighbours(city: str) -> None:
    cells = city_cells(*CITIES[city], seed=1)
    ds = build_images(cells, image_level=IMAGE)
    g = ds.grid
    pairs = shared = 0
    for i in range(len(ds)):
        grid = placed_cells(ds, cells, i).reshape(g, g)
        for a, b in [(grid[:, :-1], grid[:, 1:]), (grid[:-1, :], grid[1:, :])]:
            for x, y in zip(a.ravel(), b.ravel(), strict=True):
                if x and y:
                    pairs += 1
                    shared += edge_neighbours(x, y)
    assert pairs > 500
    assert shared / pairs == 1.0


def test_every_cell_lands_once_with_its_values(nyc: pd.DataFrame) -> None:
    ds = build_images(nyc, image_level=IMAGE)
    assert ds.grid == 16 and ds.patch_level == PATCH and ds.image_level == IMAGE
    placed = np.concatenate([placed_cells(ds, nyc, i)[ds.mask(i)] for i in range(len(ds))])
    assert len(placed) == len(nyc)
    assert np.array_equal(np.sort(placed), np.sort(nyc.index.to_numpy()))
    parents = np.unique(cell_parent(nyc.index.to_numpy(), IMAGE))
    assert np.array_equal(np.sort(ds.parents), parents)
    for i in range(len(ds)):
        cells = ds.cells(i)
        assert np.array_equal(cells, cell_children(ds.parents[i], PATCH))
        mask = ds.mask(i)
        assert np.array_equal(mask, np.isin(cells, nyc.index.to_numpy()))
        expected = nyc.reindex(cells[mask])[list(ds.feature_names)].to_numpy(np.float32)
        assert np.array_equal(ds.raw(i)[mask], expected)
        assert not ds.raw(i)[~mask].any()


def test_getitem_normalizes_valid_pixels_and_zeroes_empty_ones(nyc: pd.DataFrame) -> None:
    ds = build_images(nyc, image_level=IMAGE)
    x, mask = ds[2]
    assert x.dtype == torch.float32 and mask.dtype == torch.bool
    assert x.shape == (256, 3) and mask.shape == (256,)
    raw = ds.raw(2).astype(np.float64)
    expected = (np.log1p(raw) - ds.stats.mean) / ds.stats.std
    np.testing.assert_allclose(x.numpy()[mask.numpy()], expected[mask.numpy()], rtol=1e-6)
    assert not x.numpy()[~mask.numpy()].any()


@pytest.mark.parametrize("log1p", [True, False])
def test_stats_equal_numpy_over_valid_cells(nyc: pd.DataFrame, log1p: bool) -> None:
    ds = build_images(nyc, image_level=IMAGE, log1p=log1p, chunk_size=97)
    values = nyc[list(ds.feature_names)].to_numpy(np.float64)
    values = np.log1p(values) if log1p else values
    np.testing.assert_allclose(ds.stats.mean, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ds.stats.std, values.std(axis=0), rtol=1e-10)
    assert ds.stats.count == len(nyc) and ds.stats.log1p is log1p
    assert NormStats.from_dict(ds.stats.to_dict()) == ds.stats


def test_constant_feature_gets_unit_std() -> None:
    stats = NormStats.from_array(np.array([[2.0, 1.0], [2.0, 3.0]]), log1p=False)
    assert stats.std.tolist() == [1.0, 1.0]
    assert stats.apply(np.array([[2.0, 3.0]])).tolist() == [[0.0, 1.0]]


def test_disk_dataset_equals_memory_and_shards_do_not_matter(
    nyc: pd.DataFrame, tmp_path: Path
) -> None:
    memory = build_images(nyc, image_level=IMAGE)
    one = build_images(nyc, image_level=IMAGE, out=tmp_path / "one")
    many = build_images(nyc, image_level=IMAGE, out=tmp_path / "many", shard_size=2)
    assert len(many.meta["shards"]) == -(-len(memory) // 2) > 2
    reopened = ImageDataset.open(tmp_path / "many")
    folder = ImageDataset(tmp_path / "many")  # a folder opens like ImageDataset.open
    assert repr(folder) == repr(reopened) and f"root={str(tmp_path / 'many')!r}" in repr(folder)
    assert f"images={len(memory)}, cells={len(nyc)}, features=3" in repr(folder)
    assert sorted(p.name for p in (tmp_path / "many").iterdir())[:2] == [
        "images-00000.npy",
        "images-00001.npy",
    ]
    for ds in (one, many, reopened, folder):
        assert len(ds) == len(memory) and ds.stats == memory.stats
        assert np.array_equal(ds.parents, memory.parents)
        for i in range(len(memory)):
            for got, want in zip(ds[i], memory[i], strict=True):
                assert torch.equal(got, want)
    shard = np.load(tmp_path / "many" / "images-00000.npy", mmap_mode="r")
    assert isinstance(shard, np.memmap) and shard.shape == (2, 256, 3)
    # Same input, same output, byte for byte.
    again = build_images(nyc, image_level=IMAGE, out=tmp_path / "again", shard_size=2)
    for name in again.meta["shards"][-1].values():
        if isinstance(name, str):
            assert (tmp_path / "again" / name).read_bytes() == (
                tmp_path / "many" / name
            ).read_bytes()


def test_files_read_like_frames(nyc: pd.DataFrame, tmp_path: Path) -> None:
    layer = cells_frame(nyc.index.to_numpy()).join(nyc)
    expected = build_images(layer, image_level=IMAGE, chunk_size=500)
    for name in ("cells.gpkg", "cells.parquet"):
        path = write_layer(layer, tmp_path / name)
        ds = build_images(path, image_level=IMAGE, chunk_size=500)
        assert ds.feature_names == ("ident", "shops", "roads")
        assert ds.stats == expected.stats
        assert all(torch.equal(ds[i][0], expected[i][0]) for i in range(len(ds)))


def test_dataset_pickles_without_its_arrays_and_batches(nyc: pd.DataFrame, tmp_path: Path) -> None:
    ds = build_images(nyc, image_level=IMAGE, out=tmp_path / "ds")
    ds[0]  # maps the shards
    clone = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 20_000
    assert torch.equal(clone[1][0], ds[1][0])
    x, mask = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 256, 3) and mask.shape == (4, 256)


def test_overwrite_only_replaces_image_datasets(nyc: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build_images(nyc.iloc[:50], image_level=IMAGE, out=out)
    with pytest.raises(ValueError, match="overwrite=True"):  # as the command line asks
        build_images(nyc, image_level=IMAGE, out=out, replace_earlier=False)
    replaced = build_images(nyc, image_level=IMAGE, out=out, overwrite=True)
    assert ImageDataset.open(out).meta["n_cells"] == replaced.stats.count == len(nyc)
    again = build_images(nyc.iloc[:60], image_level=IMAGE, out=out)  # a notebook cell re-run
    assert ImageDataset.open(out).meta["n_cells"] == again.stats.count == 60
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="not empty"):
            build_images(nyc, image_level=IMAGE, out=other, overwrite=overwrite)
    assert (other / "keep.txt").exists()


def _with(frame: pd.DataFrame, **changes: object) -> pd.DataFrame:
    return frame.assign(**changes)


@pytest.mark.parametrize(
    ("make", "level", "match"),
    [
        (lambda f: f, PATCH, "level gap of 0"),
        (lambda f: f, PATCH - 9, "level gap of 9"),
        (lambda f: f, 31, "image_level"),
        (lambda f: _with(f, roads=np.where(np.arange(len(f)) == 3, np.nan, 1.0)), IMAGE, "NaN"),
        (lambda f: _with(f, roads=-1), IMAGE, "log1p=False"),
        (lambda f: pd.concat([f, f.iloc[:1]]), IMAGE, "repeat"),
        (lambda f: f.reset_index(drop=True), IMAGE, "cell_id"),
        (lambda f: f[[]], IMAGE, "no numeric feature"),
        (lambda f: f.iloc[:0], IMAGE, "empty"),
        (
            lambda f: f.set_axis(
                np.r_[f.index[:-1], cell_parent(f.index[-1:].to_numpy(), 13)], axis=0
            ).rename_axis("cell_id"),
            IMAGE,
            "mix S2 levels",
        ),
    ],
)
def test_bad_input_is_explained(nyc: pd.DataFrame, make, level: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_images(make(nyc.iloc[:200]), image_level=level)


def test_missing_inputs_raise_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="s2vec featurize"):
        build_images(tmp_path / "nope.gpkg")
    with pytest.raises(FileNotFoundError, match="not an S2Vec image dataset"):
        ImageDataset.open(tmp_path)


def test_cli_builds_a_dataset_and_reports_errors(
    nyc: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = write_layer(cells_frame(nyc.index.to_numpy()).join(nyc), tmp_path / "c.parquet")
    out = tmp_path / "imgs"
    args = ["images", str(path), "--image-level", "10", "--output", str(out), "--no-log1p"]
    assert main(args) == 0
    ds = ImageDataset.open(out)
    assert ds.stats.log1p is False and ds.grid == 16
    assert main([*args[:-1], "--image-level", "3"]) == 2
    assert "level gap" in capsys.readouterr().err


def test_accessor_builds_images(nyc: pd.DataFrame) -> None:
    layer = cells_frame(nyc.index.to_numpy()).join(nyc)
    ds = layer.s2vec.build_images(image_level=IMAGE)
    assert np.array_equal(ds.parents, build_images(nyc, image_level=IMAGE).parents)


def test_plot_image_writes_a_png(nyc: pd.DataFrame, tmp_path: Path) -> None:
    import matplotlib.image

    ds = build_images(nyc, image_level=IMAGE)
    png = plot_image(ds, 1, "shops", tmp_path / "quick.png")
    assert matplotlib.image.imread(png).shape[2] == 4
    with pytest.raises(ValueError, match="unknown feature"):
        plot_image(ds, 1, "cafes", tmp_path / "x.png")


def test_real_featurized_osm_cells(sample_pbf: Path, tmp_path: Path) -> None:
    cells = featurize(sample_pbf, level=17)
    names = feature_columns(cells)
    ds = build_images(cells, image_level=13)
    assert ds.feature_names == tuple(names) and len(names) > 100
    assert ds.taxonomy_version == cells.attrs["taxonomy_version"]
    assert sum(int(ds.mask(i).sum()) for i in range(len(ds))) == len(cells)
    for i in range(len(ds)):
        mask = ds.mask(i)
        expected = cells.loc[ds.cells(i)[mask], names].to_numpy(np.float32)
        assert np.array_equal(ds.raw(i)[mask], expected)
    from_file = build_images(write_layer(cells, tmp_path / "cells.gpkg"), image_level=13)
    assert from_file.stats == ds.stats


def test_min_support_keeps_the_features_present_in_enough_cells(
    nyc: pd.DataFrame, tmp_path: Path
) -> None:
    cells = nyc.assign(rare=0, sometimes=0)
    cells.iloc[:3, cells.columns.get_loc("rare")] = 1  # in 3 cells: under 1 %
    cells.iloc[: len(cells) // 10, cells.columns.get_loc("sometimes")] = 2  # in 10 %
    full = build_images(cells, image_level=IMAGE)
    kept = build_images(cells, image_level=IMAGE, min_support=0.05)
    assert "rare" in full.feature_names
    assert list(kept.feature_names) == [f for f in full.feature_names if f != "rare"]
    columns = [full.feature_names.index(f) for f in kept.feature_names]
    np.testing.assert_array_equal(kept.raw(0), full.raw(0)[:, columns])
    np.testing.assert_allclose(kept.stats.mean, full.stats.mean[columns])
    # the same selection when streaming from a file
    path = write_layer(cells_frame(cells.index.to_numpy()).join(cells), tmp_path / "c.parquet")
    from_file = build_images(path, image_level=IMAGE, min_support=0.05)
    assert from_file.feature_names == kept.feature_names
    with pytest.raises(ValueError, match="lower min_support"):
        build_images(cells.drop(columns=["ident", "shops", "roads"]), IMAGE, min_support=0.5)
