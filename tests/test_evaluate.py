"""The downstream protocol on data with a known answer, reproducibility and hold-out."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from s2vec_geo.evaluation import (
    EvalConfig,
    MLPConfig,
    TrainSettings,
    Variant,
    evaluate,
    holdout_splits,
    random_splits,
    region_mask,
    write_report,
)
from s2vec_geo.s2 import cell_parent, cell_to_latlng, cells_frame, cover

# Real level-15 S2 cells over Lower Manhattan; features are synthetic with a known target.
BOX = (-74.02, 40.70, -73.97, 40.76)
FAST = {
    "grid": (MLPConfig(lr=1e-2, hidden=64, dropout=0.0), MLPConfig(lr=3e-3, hidden=128)),
    "train_settings": TrainSettings(max_epochs=400, patience=20),
}


@pytest.fixture(scope="module")
def cells() -> np.ndarray:
    return cover(shapely.box(*BOX), 15)


@pytest.fixture(scope="module")
def table(cells: np.ndarray) -> gpd.GeoDataFrame:
    x = np.random.default_rng(7).normal(size=(cells.size, 8)).astype(np.float32)
    frame = cells_frame(cells)
    for i in range(x.shape[1]):
        frame[f"emb_{i:03d}"] = x[:, i]
    return frame


def point_labels(cells: np.ndarray, values: np.ndarray) -> gpd.GeoDataFrame:
    lat, lng = cell_to_latlng(cells)
    return gpd.GeoDataFrame({"y": values}, geometry=gpd.points_from_xy(lng, lat), crs=4326)


def test_target_that_is_a_function_of_the_embedding_is_learned(table: gpd.GeoDataFrame) -> None:
    x = table[["emb_000", "emb_001"]].to_numpy(np.float64)
    labels = point_labels(table.index.to_numpy(), np.sin(x[:, 0]) + x[:, 1])
    result = table.s2vec.evaluate(labels, "y", n_splits=3, location=False, **FAST)
    summary = result.summary()
    assert summary.loc["s2vec", "r2_mean"] > 0.9
    assert summary.loc["s2vec", "mae_mean"] < 0.05  # on the [0, 1]-scaled target
    assert result.settings["labelled_cells"] == len(table)


def test_pure_noise_target_is_not_learned(table: gpd.GeoDataFrame) -> None:
    noise = np.random.default_rng(1).normal(size=len(table))
    result = evaluate(
        table, point_labels(table.index.to_numpy(), noise), "y", n_splits=3, location=False, **FAST
    )
    assert result.summary().loc["s2vec", "r2_mean"] < 0.1


def test_location_variant_learns_a_purely_spatial_target(table: gpd.GeoDataFrame) -> None:
    lat, lng = cell_to_latlng(table.index.to_numpy())
    labels = point_labels(table.index.to_numpy(), np.sin((lat - 40.70) * 60) + (lng + 74) * 20)
    result = evaluate(table, labels, "y", n_splits=2, **FAST)
    summary = result.summary()
    assert list(summary.index) == ["s2vec", "location", "s2vec+location"]
    assert summary.loc["location", "r2_mean"] > 0.8
    assert summary.loc["s2vec", "r2_mean"] < 0.2  # the random embedding knows no location


def test_same_seed_gives_identical_results_and_other_seed_differs(
    table: gpd.GeoDataFrame, tmp_path
) -> None:
    x = table["emb_000"].to_numpy(np.float64)
    labels = point_labels(table.index.to_numpy(), x**2)
    runs = [evaluate(table, labels, "y", n_splits=2, seed=s, **FAST) for s in (3, 3, 4)]
    dumps = [json.dumps(r.to_dict()) for r in runs]
    assert dumps[0] == dumps[1]
    assert dumps[0] != dumps[2]
    paths = write_report(runs[0], tmp_path)
    assert json.loads(paths["json"].read_text())["summary"].keys() == {
        "s2vec",
        "location",
        "s2vec+location",
    }


def test_a_config_object_and_keywords_give_the_same_evaluation(table: gpd.GeoDataFrame) -> None:
    x = table["emb_000"].to_numpy(np.float64)
    labels = point_labels(table.index.to_numpy(), x**2)
    by_keywords = evaluate(table, labels, "y", n_splits=2, seed=3, location=False, **FAST)
    config = EvalConfig(n_splits=2, seed=4, location=False, **FAST)
    overridden = evaluate(table, labels, "y", config, seed=3)  # a keyword replaces its field
    assert json.dumps(overridden.to_dict()) == json.dumps(by_keywords.to_dict())
    assert evaluate(table, labels, "y", config=config).settings["seed"] == 4
    with pytest.raises(TypeError, match="unknown evaluation setting n_split"):
        evaluate(table, labels, "y", n_split=2)


def test_fusion_variants_with_an_external_table(table: gpd.GeoDataFrame) -> None:
    cells = table.index.to_numpy()
    other = pd.DataFrame(
        np.random.default_rng(3).normal(size=(cells.size, 8)),
        columns=[f"sat_{i}" for i in range(8)],
    )
    other.insert(0, "cell_id", cells)
    y = table["emb_000"].to_numpy() + other["sat_0"].to_numpy()
    result = evaluate(
        table,
        point_labels(cells, y),
        "y",
        external={"sat": other},
        location=False,
        n_splits=2,
        **FAST,
    )
    summary = result.summary()
    assert list(summary.index) == [
        "s2vec",
        "sat",
        "s2vec+sat concat",
        "s2vec+sat wt-add",
        "s2vec+sat proj-add",
    ]
    # each block explains half of the target; only the fusions see both halves
    assert summary.loc["s2vec+sat concat", "r2_mean"] > summary.loc["s2vec", "r2_mean"] + 0.2
    assert summary.loc["s2vec+sat proj-add", "r2_mean"] > summary.loc["sat", "r2_mean"] + 0.2


def test_raw_counts_baseline_uses_the_featurized_layer(table: gpd.GeoDataFrame) -> None:
    cells = table.index.to_numpy()
    counts = pd.DataFrame(
        {
            "cell_id": cells,
            "shop": np.random.default_rng(5).poisson(3, cells.size),
            "road": np.random.default_rng(6).poisson(1, cells.size),
        }
    )
    y = np.log1p(counts["shop"].to_numpy())
    variants = [Variant("counts", ("counts",)), Variant("s2vec", ("s2vec",))]
    result = evaluate(
        table, point_labels(cells, y), "y", counts=counts, variants=variants, n_splits=2, **FAST
    )
    assert result.summary().loc["counts", "r2_mean"] > 0.9
    assert result.summary().loc["s2vec", "r2_mean"] < 0.2


def test_random_splits_are_disjoint_60_20_20_and_seeded() -> None:
    splits = random_splits(100, n_splits=20, seed=0)
    assert len(splits) == 20
    for s in splits:
        assert (len(s.train), len(s.val), len(s.test)) == (60, 20, 20)
        assert np.array_equal(np.sort(np.concatenate(s)), np.arange(100))
    assert not np.array_equal(splits[0].test, splits[1].test)
    again = random_splits(100, n_splits=20, seed=0)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(splits, again, strict=True))


def test_spatial_holdout_leaks_no_cell(table: gpd.GeoDataFrame) -> None:
    cells = table.index.to_numpy()
    region = (-74.02, 40.70, -73.99, 40.72)
    inside = region_mask(cells, region)
    splits = holdout_splits(cells, region, n_splits=5, seed=2)
    lat, lng = cell_to_latlng(cells)
    centre_in_box = (lng >= -74.02) & (lng <= -73.99) & (lat >= 40.70) & (lat <= 40.72)
    assert 0 < centre_in_box.sum() < cells.size
    for s in splits:
        assert np.array_equal(s.test, np.flatnonzero(centre_in_box))
        assert not set(s.test) & (set(s.train) | set(s.val))
        assert len(set(s.train) | set(s.val) | set(s.test)) == cells.size
        assert not centre_in_box[s.train].any() and not centre_in_box[s.val].any()
    # the same region as a polygon selects the same cells
    assert np.array_equal(region_mask(cells, shapely.box(*region)), inside)
    # a region given as coarser cell ids selects exactly the cells inside those cells
    coarse = cover(shapely.box(-74.0, 40.74, -73.98, 40.75), 13)
    by_cells = region_mask(cells, coarse)
    in_coarse = shapely.contains_xy(shapely.union_all(cells_frame(coarse).geometry), lng, lat)
    assert by_cells.any()
    assert np.array_equal(by_cells, in_coarse)


def test_holdout_evaluation_tests_only_the_region(table: gpd.GeoDataFrame) -> None:
    x = table["emb_000"].to_numpy(np.float64)
    labels = point_labels(table.index.to_numpy(), x)
    region = (-74.02, 40.70, -73.99, 40.72)
    result = evaluate(table, labels, "y", holdout=region, n_splits=2, location=False, **FAST)
    assert result.settings["split"] == "spatial hold-out"
    assert result.settings["test_cells"] == int(region_mask(table.index.to_numpy(), region).sum())
    assert result.summary().loc["s2vec", "r2_mean"] > 0.9


def test_holdout_region_without_cells_is_a_clear_error(table: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="no labelled cell lies inside the hold-out region"):
        holdout_splits(table.index.to_numpy(), (24.9, 60.1, 25.0, 60.2))
    with pytest.raises(ValueError, match="minx,miny,maxx,maxy"):
        holdout_splits(table.index.to_numpy(), (-73.9, 40.7, -74.0, 40.8))


def test_constant_target_is_a_clear_error(table: gpd.GeoDataFrame) -> None:
    labels = point_labels(table.index.to_numpy(), np.full(len(table), 5.0))
    with pytest.raises(ValueError, match="constant"):
        evaluate(table, labels, "y", n_splits=1, **FAST)


def test_labels_outside_the_embedded_area_are_a_clear_error(table: gpd.GeoDataFrame) -> None:
    labels = gpd.GeoDataFrame(
        {"y": [1.0, 2.0]}, geometry=gpd.points_from_xy([24.94, 24.95], [60.17, 60.16]), crs=4326
    )
    with pytest.raises(ValueError, match="none of the 2 labels falls on any"):
        evaluate(table, labels, "y", n_splits=1, **FAST)


def test_unknown_variant_block_is_a_clear_error(table: gpd.GeoDataFrame) -> None:
    labels = point_labels(table.index.to_numpy(), table["emb_000"].to_numpy())
    with pytest.raises(ValueError, match="needs blocks \\['geoclip'\\]"):
        evaluate(table, labels, "y", variants=[Variant("g", ("geoclip",))], **FAST)


def test_feature_constant_in_training_does_not_blow_up_predictions() -> None:
    from s2vec_geo.evaluation import fit

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=200), np.full(200, -0.0123)]).astype(np.float32)
    y = (x[:, 0] - x[:, 0].min()) / np.ptp(x[:, 0])
    fitted = fit(
        [x[:150]],
        y[:150],
        [x[150:]],
        y[150:],
        config=FAST["grid"][0],
        seed=0,
        settings=FAST["train_settings"],
    )
    unseen = x[150:].copy()
    unseen[:, 1] = 5.0  # e.g. a POI category present only outside the training cells
    assert np.abs(fitted.predict([unseen]) - fitted.predict([x[150:]])).max() < 5.0


def test_block_splits_keep_whole_blocks_together(cells: np.ndarray) -> None:
    blocks = cell_parent(cells, 13)
    splits = random_splits(cells.size, n_splits=4, seed=3, groups=blocks)
    for s in splits:
        parts = [set(blocks[p]) for p in s]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert sorted(np.concatenate(s).tolist()) == list(range(cells.size))
        assert abs(s.train.size / cells.size - 0.6) < 0.15
    again = random_splits(cells.size, n_splits=4, seed=3, groups=blocks)
    assert all((a.test == b.test).all() for a, b in zip(splits, again, strict=True))
    with pytest.raises(ValueError, match="finer block level"):
        random_splits(cells.size, groups=cell_parent(cells, 9))


def test_block_splits_stop_area_constant_labels_leaking(table: gpd.GeoDataFrame) -> None:
    """Noise constant over level-12 blocks (like a census tract) is learnable from location
    only when neighbours of the test cells are in training; block splits remove that."""
    ids = table.index.to_numpy()
    blocks = cell_parent(ids, 12)
    unique, block_of = np.unique(blocks, return_inverse=True)
    labels = point_labels(ids, np.random.default_rng(5).normal(size=unique.size)[block_of])
    kw = {"n_splits": 3, "variants": [Variant("location", ("location",))], **FAST}
    leaky = evaluate(table, labels, "y", **kw).summary().loc["location", "r2_mean"]
    result = evaluate(table, labels, "y", block_level=12, **kw)
    blocked = result.summary().loc["location", "r2_mean"]
    assert result.settings["split"] == "random 60/20/20 of level-12 blocks"
    assert leaky > 0.6 and blocked < 0.3
    with pytest.raises(ValueError, match="coarser"):
        evaluate(table, labels, "y", block_level=15, **kw)
