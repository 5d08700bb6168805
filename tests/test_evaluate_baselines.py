"""The baselines every evaluation carries, on a real extract: multi-scale neighbourhood
counts and the untrained network, beside raw counts (Kontur population, Liechtenstein)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import s2vec_geo as sv
from s2vec_geo.evaluation import MLPConfig, TrainSettings, evaluate
from s2vec_geo.features.neighborhood import multiscale_counts, neighborhood_sums
from s2vec_geo.io.layers import read_provenance, write_layer
from s2vec_geo.model.training import TrainConfig

FAST = {
    "grid": (MLPConfig(lr=1e-2, hidden=64, dropout=0.1),),
    "train_settings": TrainSettings(max_epochs=200, patience=15),
}
TINY = {"embed_dim": 16, "depth": 1, "num_heads": 2, "decoder_dim": 8, "decoder_depth": 1}


@pytest.fixture(scope="module")
def liechtenstein(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Cells over Liechtenstein's labelled hexagons, a small model and its embeddings."""
    out = tmp_path_factory.mktemp("li")
    labels = gpd.read_file(
        shared_data / "labels" / "kontur" / "kontur_population_liechtenstein.gpkg"
    )
    aoi = shapely.union_all(labels.geometry.to_numpy())
    cells = sv.featurize(shared_data / "osm" / "valhalla-liechtenstein.osm.pbf", 16, aoi=aoi)
    cells_path = write_layer(cells, out / "cells.gpkg")
    images = sv.build_images(cells, 12, out=out / "images")
    cfg = TrainConfig(epochs=2, model=TINY, device="cpu", val_fraction=0.0)
    model = sv.train(images, cfg, out=out / "run")
    emb_path = write_layer(sv.embed(cells, model.path), out / "emb.gpkg")
    return {"labels": labels, "cells": cells, "cells_path": cells_path, "emb": emb_path}


def test_multiscale_counts_are_exact_block_sums_of_real_cells(liechtenstein: dict) -> None:
    """Every block sum equals a brute-force sum over the cell's true S2 neighbours."""
    cells = liechtenstein["cells"]
    column = "road_length_m_residential"
    ms = multiscale_counts(cells[[column]], radii=(2,))
    ids = cells.index.to_numpy().astype(np.uint64)
    face, i, j = sv.cell_face_ij(ids)
    where = {(f, a, b): k for k, (f, a, b) in enumerate(zip(face, i, j, strict=True))}
    values = cells[column].to_numpy()
    rng = np.random.default_rng(0)
    for k in rng.choice(len(ids), 300, replace=False):
        near = [
            where.get((face[k], i[k] + di, j[k] + dj)) for di in range(-2, 3) for dj in range(-2, 3)
        ]
        expected = sum(values[q] for q in near if q is not None)
        assert ms[f"{column}_r2"].iloc[k] == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert (neighborhood_sums(ids, values, 0) == values).all()


def test_every_report_carries_both_baselines_by_default(liechtenstein: dict) -> None:
    """Multi-scale counts and the untrained twin of the recorded model join raw counts and
    S2Vec; the multi-scale counts rank population better than the cell's own counts."""
    li = liechtenstein
    assert read_provenance(li["emb"])["model"]  # the model the untrained twin is made from
    area = (li["emb"], li["labels"], "population")
    same = {"counts": li["cells_path"], "transform": ("density", "log"), "block_level": 13}
    result = evaluate(*area, **same, n_splits=2, location=False, **FAST)
    summary = result.summary()
    assert list(summary.index) == ["counts", "multiscale", "untrained", "s2vec"]
    assert summary.notna().all().all()
    widths = result.settings["blocks"]
    assert widths["multiscale"] == 3 * widths["counts"]
    assert widths["untrained"] == widths["s2vec"] == TINY["embed_dim"]
    assert summary.loc["multiscale", "spearman_mean"] > summary.loc["counts", "spearman_mean"]
    off = evaluate(
        *area, **same, n_splits=1, location=False, multiscale=False, untrained=False, **FAST
    )
    assert list(off.summary().index) == ["counts", "s2vec"]


def test_untrained_twin_keeps_architecture_and_statistics_not_weights(liechtenstein: dict) -> None:
    model = sv.load_model(read_provenance(liechtenstein["emb"])["model"])
    twin = model.untrained(seed=3)
    assert twin.config == model.config and twin.stats == model.stats
    trained = pd.Series({k: v for k, v in model.module.state_dict().items()})
    fresh = twin.module.state_dict()
    assert not all(bool((trained[k] == fresh[k]).all()) for k in fresh)
    again = model.untrained(seed=3).module.state_dict()
    assert all(bool((again[k] == fresh[k]).all()) for k in fresh)
