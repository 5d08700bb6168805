"""The accessor on any layer: embed a cell layer, aggregate to parents, smooth over
neighbours, align labels with the frame as the cells (the old spelling warns)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import s2vec_geo as sv
from s2vec_geo.model.training import TrainConfig


@pytest.fixture(scope="module")
def cells(sample_pbf) -> gpd.GeoDataFrame:
    return sv.featurize(sample_pbf, level=17)


def test_a_cell_layer_embeds_itself_one_row_per_cell(cells) -> None:
    model = sv.train(
        cells.s2vec.build_images(image_level=14), TrainConfig(epochs=1, model={"depth": 1})
    )
    emb = cells.s2vec.embed(model)
    assert emb.index.equals(cells.index)
    assert len(sv.embedding_columns(emb)) == model.embed_dim == 128
    as_column = cells.reset_index().s2vec.embed(model)  # cell_id as a column, as read_file gives
    np.testing.assert_array_equal(as_column["emb_000"].to_numpy(), emb["emb_000"].to_numpy())
    with pytest.raises(ValueError, match=r"no cell layer .* pass cells="):
        gpd.GeoDataFrame(geometry=[shapely.Point(24.94, 60.17)], crs=4326).s2vec.embed(model)


def test_to_parent_sums_counts_and_averages_on_request(cells) -> None:
    column = sv.feature_columns(cells)[0]
    parents = cells.s2vec.to_parent(15)
    assert parents.index.name == "cell_id" and set(sv.cell_level(parents.index)) == {15}
    assert parents[column].sum() == pytest.approx(cells[column].sum())
    assert parents.attrs["level"] == 15 and parents.crs.to_epsg() == 4326
    means = cells.s2vec.to_parent(15, agg="mean")
    assert (means[column] <= parents[column]).all()
    with pytest.raises(ValueError, match="needs a cell layer"):
        gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=4326).s2vec.to_parent(10)


def test_neighborhood_sums_are_the_evaluation_baselines(cells) -> None:
    smooth = cells.s2vec.neighborhood(2)
    baseline = sv.multiscale_counts(cells, radii=(2,))
    column = sv.feature_columns(cells)[0]
    np.testing.assert_allclose(smooth[column], baseline[f"{column}_r2"])
    mean = cells.s2vec.neighborhood(2, agg="mean")
    assert (mean[column] <= smooth[column] + 1e-9).all() and mean.index.equals(cells.index)


def test_align_labels_takes_the_cells_as_the_frame_and_the_old_spelling_warns(cells) -> None:
    minx, miny, maxx, maxy = cells.total_bounds
    tract = gpd.GeoDataFrame(
        {"income": [7.0]}, geometry=[shapely.box(minx, miny, maxx, maxy)], crs=4326
    ).to_crs(3067)
    new = cells.s2vec.align_labels(tract, "income")
    assert len(new) > 0.5 * len(cells) and set(new) == {7.0}
    with pytest.warns(DeprecationWarning, match=r"cells.s2vec.align_labels\(labels"):
        old = tract.s2vec.align_labels(cells, "income")
    pd.testing.assert_series_equal(old, new)
