"""Cell embeddings, geometry embeddings, layers, the PCA map and the CLI."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import torch
from synthetic_cells import FEATURES, TINY_MODEL, synthetic_cells

import s2vec_geo as sv
from s2vec_geo.cli import main
from s2vec_geo.embeddings.embed import embed
from s2vec_geo.images import build_images
from s2vec_geo.model.file import load_model
from s2vec_geo.model.training import TrainConfig, train
from s2vec_geo.viz.plots import plot_embedding_pca


def _vec(frame: pd.DataFrame, cell: int) -> np.ndarray:
    return frame.loc[cell].filter(like="emb_").to_numpy(np.float64)


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return synthetic_cells(n_parents=12)


@pytest.fixture(scope="module")
def model(cells, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    config = TrainConfig(epochs=2, batch_size=4, lr=3e-3, model=TINY_MODEL)
    train(build_images(cells, image_level=10), config, out=run)
    return load_model(run)


@pytest.fixture(scope="module")
def emb(cells, model) -> gpd.GeoDataFrame:
    return embed(cells, model)


def test_one_row_per_cell_in_input_order(cells, model, emb) -> None:
    cols = [f"emb_{i:03d}" for i in range(32)]
    assert emb.index.name == "cell_id" and (emb.index == cells.index).all()
    assert [c for c in emb.columns if c.startswith("emb_")] == cols
    assert (emb[cols].dtypes == np.float32).all() and np.isfinite(emb[cols]).all().all()
    assert emb.crs.equals("EPSG:4326")
    assert (emb["token"] == sv.cell_to_token(cells.index.to_numpy())).all()
    centre = emb.geometry.iloc[0].centroid
    assert sv.latlng_to_cell(centre.y, centre.x, 13) == cells.index[0]


def test_contextual_embedding_sees_neighbours_patch_embedding_does_not(cells, model, emb):
    changed = cells.copy()
    target = cells.index[0]
    row, col = sv.cell_position(np.array([target]), 10)
    neighbour = sv.cell_children(sv.cell_parent(np.array([target]), 10)[0], 13)[
        int(row[0]) * 8 + (int(col[0]) + 1) % 8
    ]
    if neighbour not in changed.index:
        pytest.skip("the neighbour cell was dropped from the synthetic area")
    changed.loc[neighbour, "shops"] += 500
    ctx = embed(changed, model)
    assert not np.allclose(_vec(ctx, target), _vec(emb, target))
    patch_before = embed(cells, model, mode="patch")
    patch_after = embed(changed, model, mode="patch")
    np.testing.assert_array_equal(_vec(patch_after, target), _vec(patch_before, target))


def test_patch_mode_is_the_linear_patch_projection(cells, model) -> None:
    out = embed(cells.iloc[:5], model, mode="patch")
    x = torch.from_numpy(model.stats.apply(cells.iloc[:5][FEATURES].to_numpy()))
    with torch.no_grad():
        expected = model.module.patch_embed(x).numpy()
    np.testing.assert_allclose(out.filter(like="emb_").to_numpy(), expected, rtol=1e-6)


def test_chunked_equals_whole_and_columns_may_be_reordered(cells, model, emb) -> None:
    chunked = embed(cells[FEATURES[::-1]], model, batch_size=3)
    pd.testing.assert_frame_equal(
        chunked.filter(like="emb_"), emb.filter(like="emb_"), check_exact=False, rtol=1e-5
    )


def test_image_embeddings_are_the_mean_of_their_cells(cells, model, emb) -> None:
    images = embed(cells, model, images=True)
    parents = sv.cell_parent(cells.index.to_numpy(), 10)
    assert set(images.index) == set(parents)
    assert (sv.cell_level(images.index.to_numpy()) == 10).all()
    means = emb.filter(like="emb_").groupby(parents).mean()
    np.testing.assert_allclose(
        images.filter(like="emb_").loc[means.index].to_numpy(), means.to_numpy(), atol=1e-5
    )
    counts = pd.Series(parents).value_counts()
    assert (images.loc[counts.index, "n_cells"].to_numpy() == counts.to_numpy()).all()


def test_mismatched_features_or_level_are_refused(cells, model) -> None:
    with pytest.raises(ValueError, match=r"missing \['bars'\].*extra \['cafes'\]"):
        embed(cells.rename(columns={"bars": "cafes"}), model)
    coarse = cells.groupby(sv.cell_parent(cells.index.to_numpy(), 12)).sum()
    coarse.index.name = "cell_id"
    with pytest.raises(ValueError, match="patch level 13"):
        embed(coarse, model)
    with pytest.raises(ValueError, match="unknown mode"):
        embed(cells, model, mode="pixels")


def test_points_take_their_cell_and_polygons_the_area_weighted_mean(cells, emb) -> None:
    ids = cells.index.to_numpy()[:2]
    lat, lng = sv.cell_to_latlng(ids)
    a, b = (shapely.Polygon(p.exterior) for p in sv.cell_to_polygon(ids))
    inner_a = shapely.affinity.scale(a, 0.5, 0.5)  # wholly inside cell a
    geoms = gpd.GeoDataFrame(
        {"name": ["pa", "pb", "far", "poly_a", "both"]},
        geometry=[
            shapely.Point(lng[0], lat[0]),
            shapely.Point(lng[1], lat[1]),
            shapely.Point(10.0, 10.0),
            inner_a,
            shapely.union(inner_a, shapely.affinity.scale(b, 0.25, 0.25)),
        ],
        index=pd.Index([10, 11, 12, 13, 14], name="site"),
        crs=4326,
    ).to_crs(3857)
    out = geoms.s2vec.embed(cells=emb)
    cols = [c for c in out.columns if c.startswith("emb_")]
    assert (out.index == geoms.index).all() and out.crs.equals(geoms.crs)  # the caller's CRS
    assert out["name"].tolist() == geoms["name"].tolist()  # and columns, as `s2vec join`
    ea, eb = emb.loc[ids[0], cols].to_numpy(float), emb.loc[ids[1], cols].to_numpy(float)
    np.testing.assert_allclose(out.loc[10, cols].to_numpy(float), ea, rtol=1e-6)
    np.testing.assert_allclose(out.loc[11, cols].to_numpy(float), eb, rtol=1e-6)
    assert out.loc[12, cols].isna().all() and out.loc[12, "n_cells"] == 0
    np.testing.assert_allclose(out.loc[13, cols].to_numpy(float), ea, rtol=1e-5)
    # Areas in cell a and cell b are 1/4 and 1/16 of a cell: weights 4:1.
    np.testing.assert_allclose(out.loc[14, cols].to_numpy(float), 0.8 * ea + 0.2 * eb, atol=2e-3)
    assert out.loc[14, "n_cells"] == 2


def test_coverage_says_how_much_of_each_geometry_embedded_cells_cover(emb) -> None:
    """A polygon half outside the embedded area: n_cells 1, coverage one half."""
    inside = emb.index.to_numpy()[0]
    outside = next(c for c in sv.cell_edge_neighbors(inside) if c in emb.index)
    table = emb.drop(index=outside)  # `outside` now lies beyond the embedded area
    a, b = (shapely.Polygon(p.exterior) for p in sv.cell_to_polygon(np.array([inside, outside])))
    (lat_a, lat_b), (lng_a, lng_b) = sv.cell_to_latlng(np.array([inside, outside]))
    shapes = gpd.GeoSeries(
        [
            shapely.union(a, b),  # half in an embedded cell
            shapely.affinity.scale(a, 0.5, 0.5),  # wholly inside
            shapely.LineString([(lng_a, lat_a), (lng_b, lat_b)]),  # centre to centre
            shapely.MultiPoint([(lng_a, lat_a), (lng_b, lat_b)]),
            shapely.Point(lng_a, lat_a),
            shapely.Point(lng_b, lat_b),
            b,
        ],
        crs=4326,
    )
    out = sv.embed_geometries(shapes, table)
    assert out["n_cells"].tolist() == [1, 1, 1, 1, 1, 0, 0]
    np.testing.assert_allclose(out["coverage"], [0.5, 1, 0.5, 0.5, 1, 0, 0], atol=0.02)
    assert out["coverage"].between(0, 1).all()
    np.testing.assert_allclose(_vec(out, 0), _vec(table, inside), rtol=1e-5)


def test_an_embedding_layer_read_back_serves_as_cells(emb, tmp_path) -> None:
    """A layer ``s2vec embed`` wrote, read with geopandas (cell_id a column), or with
    ``read_cell_layer`` (cell_id the index): both are embedding tables for ``cells=``."""
    path = sv.write_layer(emb, tmp_path / "emb.gpkg")
    lat, lng = sv.cell_to_latlng(emb.index.to_numpy()[:3])
    pts = gpd.GeoDataFrame({"n": [1, 2, 3]}, geometry=gpd.points_from_xy(lng, lat), crs=4326)
    for table in (gpd.read_file(path), sv.read_cell_layer(path)):
        out = pts.s2vec.embed(cells=table)
        np.testing.assert_allclose(
            out.filter(like="emb_").to_numpy(), emb.filter(like="emb_").iloc[:3], rtol=1e-6
        )


def test_accessor_embeds_featurized_cells_with_the_model(cells, model, emb) -> None:
    lat, lng = sv.cell_to_latlng(cells.index.to_numpy()[:3])
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lng, lat), crs=4326)
    out = pts.s2vec.embed(model, cells)
    np.testing.assert_allclose(
        out.filter(like="emb_").to_numpy(), emb.filter(like="emb_").iloc[:3].to_numpy(), atol=1e-5
    )
    by_image = pts.s2vec.embed(model, cells, level=10)
    assert by_image.filter(like="emb_").notna().all().all()
    with pytest.raises(ValueError, match="cells="):
        pts.s2vec.embed(model)
    with pytest.raises(ValueError, match="neither the model's patch level"):
        pts.s2vec.embed(model, cells, level=12)


def test_layers_and_pca_map(emb, tmp_path) -> None:
    for name in ("emb.gpkg", "emb.parquet"):
        path = sv.write_layer(emb, tmp_path / name)
        back = gpd.read_file(path) if name.endswith("gpkg") else gpd.read_parquet(path)
        assert back["cell_id"].dtype == np.int64 and (back["cell_id"] == emb.index).all()
        np.testing.assert_array_equal(
            back.filter(like="emb_").to_numpy(np.float32), emb.filter(like="emb_").to_numpy()
        )
    png = plot_embedding_pca(emb, tmp_path / "map.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_train_then_embed(cells, tmp_path, capsys) -> None:
    build_images(cells, image_level=10, out=tmp_path / "images")
    cells_path = sv.write_layer(
        sv.cells_frame(cells.index.to_numpy()).join(cells), tmp_path / "c.parquet"
    )
    args = ["train", str(tmp_path / "images"), "-o", str(tmp_path / "run"), "--epochs", "1"]
    args += ["--batch-size", "4", "--embed-dim", "16", "--depth", "1", "--num-heads", "2"]
    assert main([*args, "--decoder-dim", "8", "--decoder-depth", "1"]) == 0
    assert (tmp_path / "run" / "model.pt").is_file()
    out = tmp_path / "emb.gpkg"
    code = main(
        [
            "embed",
            str(cells_path),
            "-m",
            str(tmp_path / "run"),
            "-o",
            str(out),
            "--png",
            str(tmp_path / "m.png"),
        ]
    )
    assert code == 0 and (tmp_path / "m.png").is_file()
    layer = gpd.read_file(out)
    assert len(layer) == len(cells) and "emb_015" in layer.columns
    assert main(["embed", str(cells_path), "-m", str(tmp_path / "nope.pt"), "-o", str(out)]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_model_trained_on_frequent_features_embeds_full_cells(cells) -> None:
    sparse = cells.assign(rare=0)
    sparse.iloc[:2, sparse.columns.get_loc("rare")] = 5
    images = build_images(sparse, image_level=10, min_support=0.05)
    assert "rare" not in images.feature_names
    config = TrainConfig(epochs=1, batch_size=4, model=TINY_MODEL)
    model = train(images, config)
    assert model.feature_names == list(FEATURES)
    # the rare column is ignored: same embeddings as the frame without it
    pd.testing.assert_frame_equal(embed(sparse, model), embed(cells, model))
    with pytest.raises(ValueError, match=r"missing \['bars'\]"):
        embed(cells.drop(columns="bars"), model)
