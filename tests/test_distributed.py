"""Dask featurize/images/embed give what the single-machine functions give, on real OSM data."""

from __future__ import annotations

import gc

import dask_geopandas
import geopandas as gpd
import numba
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from synthetic_cells import TINY_MODEL

import s2vec_geo as sv
from s2vec_geo.core.schema import feature_columns
from s2vec_geo.distributed import (
    build_images_distributed,
    dask_client,
    embed_distributed,
    featurize_distributed,
    read_cell_partitions,
    read_manifest,
)
from s2vec_geo.embeddings.embed import embed
from s2vec_geo.images import build_images
from s2vec_geo.model.training import TrainConfig, train


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def assert_same_layer(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> None:
    """Same cells, columns, counts and polygons; lengths and areas to summation order."""
    got = got.sort_index()
    assert got.index.name == "cell_id" and got.index.dtype == np.int64
    assert got.index.equals(want.index)
    assert list(got.columns) == list(want.columns)
    assert feature_columns(got) == feature_columns(want)
    sums = [c for c in feature_columns(want) if want[c].dtype == np.float64]
    exact = [c for c in want.columns if c not in sums and c != want.geometry.name]
    pd.testing.assert_frame_equal(got[exact], want[exact])
    np.testing.assert_allclose(got[sums], want[sums], rtol=1e-9, atol=1e-6)
    assert got.geometry.geom_equals_exact(want.geometry, tolerance=0).all()
    assert got.crs.equals(want.crs)


@pytest.fixture(scope="module")
def helsinki(sample_pbf) -> gpd.GeoDataFrame:
    return sv.read_features(sample_pbf)


def test_dask_partitions_equal_single_machine(client, helsinki, tmp_path) -> None:
    want = sv.featurize(helsinki, level=15)
    # rows split across 4 partitions: roads and POIs of one cell land in several map tasks
    ddf = dask_geopandas.from_geopandas(helsinki, npartitions=4)
    got = featurize_distributed(ddf, level=15, scratch=tmp_path)
    assert list(tmp_path.iterdir()) == []  # the partial counts passed map -> reduce are gone
    assert got.attrs["taxonomy_version"] == want.attrs["taxonomy_version"]
    assert_same_layer(got, want)
    assert int(got["poi_cafe"].sum()) > 10


def test_synchronous_scheduler_runs_the_same_tasks_in_this_process(helsinki, tmp_path) -> None:
    want = sv.featurize(helsinki, level=15)
    ddf = dask_geopandas.from_geopandas(helsinki, npartitions=3)
    got = featurize_distributed(ddf, level=15, scratch=tmp_path, scheduler="synchronous")
    assert_same_layer(got, want)
    assert gc.isenabled()  # paused only while a task ran


def test_local_cluster_workers_use_one_core_and_pause_the_garbage_collector() -> None:
    # millions of geometries decode 3-4x slower with the cyclic collector walking them
    with dask_client(workers=1) as client:
        assert client.submit(gc.isenabled, pure=False).result() is False
        assert list(client.run(gc.isenabled).values()) == [True]  # between tasks: on
        assert client.submit(numba.get_num_threads).result() == 1  # one core a worker


def test_v2_buildings_and_landuse_on_dask_equal_single_machine(
    client, sample_pbf, shared_data, tmp_path
) -> None:
    features = sv.read_features(sample_pbf, taxonomy="v2")
    want = sv.featurize(features, level=16)
    assert want["building_area_m2_other"].sum() > 10_000
    ddf = dask_geopandas.from_geopandas(features, npartitions=4)
    got = featurize_distributed(ddf, level=16, scratch=tmp_path)
    assert got.attrs["taxonomy_version"] == "2"
    assert_same_layer(got, want)
    # whole files, one map task each, summed cell by cell: the same as reading them together
    sources = [sample_pbf, shared_data / "osm" / "graphhopper-krems.osm.pbf"]
    folder = featurize_distributed(sources, level=15, out=tmp_path / "cells", taxonomy="v2")
    both = pd.concat([sv.read_features(p, taxonomy="v2") for p in sources], ignore_index=True)
    both.attrs["taxonomy_version"] = "2"
    assert_same_layer(
        read_cell_partitions(folder).compute().set_index("cell_id"), sv.featurize(both, 15)
    )
    assert read_manifest(folder)["taxonomy_version"] == "2"


def test_sources_are_summed_cell_by_cell(client, sample_pbf, shared_data) -> None:
    monaco = shared_data / "osm" / "srai-monaco.osm.pbf"
    got = featurize_distributed([sample_pbf, sample_pbf, monaco], level=14)
    one = sv.featurize(sample_pbf, level=14)
    twice = got.loc[one.index]
    cols = feature_columns(one)
    np.testing.assert_allclose(twice[cols], 2 * one[cols].to_numpy(np.float64), rtol=1e-9)
    assert_same_layer(got.drop(index=one.index), sv.featurize(monaco, level=14))


def test_own_categories_are_collected_first(client, helsinki) -> None:
    frame = helsinki.copy()
    frame.attrs = {}  # no taxonomy: one column per category found in the data
    frame["category"] = "x_" + frame["category"]
    want = sv.featurize(frame, level=14)
    assert "poi_x_cafe" in want.columns
    got = featurize_distributed(dask_geopandas.from_geopandas(frame, npartitions=3), level=14)
    assert got.attrs["taxonomy_version"] is None
    assert_same_layer(got, want)


@pytest.fixture(scope="module")
def regions(shared_data, sample_pbf) -> list:
    osm = shared_data / "osm"
    return [sample_pbf, osm / "srai-monaco.osm.pbf", osm / "valhalla-liechtenstein.osm.pbf"]


@pytest.fixture(scope="module")
def partitioned(client, regions, tmp_path_factory):
    out = tmp_path_factory.mktemp("scale") / "cells"
    featurize_distributed(regions, level=13, out=out, npartitions=3)
    return out


def test_partitioned_folder_reads_back_lazily(partitioned, regions) -> None:
    manifest = read_manifest(partitioned)
    assert manifest["level"] == 13 and len(manifest["parts"]) == 3
    lazy = read_cell_partitions(partitioned)
    assert isinstance(lazy, dask_geopandas.GeoDataFrame) and lazy.npartitions == 3
    got = lazy.compute().set_index("cell_id")
    frames = [sv.read_features(r) for r in regions]
    want = sv.featurize(pd.concat(frames, ignore_index=True), level=13)
    assert_same_layer(got, want)
    assert manifest["n_cells"] == len(want)
    assert manifest["feature_columns"] == feature_columns(want)


def test_images_from_partitions_equal_one_build(client, partitioned, tmp_path) -> None:
    single = build_images(read_cell_partitions(partitioned).compute(), image_level=9)
    ds = build_images_distributed(partitioned, 9, tmp_path / "images")
    assert len(ds.meta["shards"]) == 3
    assert (ds.parents == single.parents).all()
    assert np.all(np.diff(ds.parents.view(np.uint64).astype(np.float64)) > 0)
    for i in range(len(ds)):
        np.testing.assert_array_equal(ds.raw(i), single.raw(i))
        np.testing.assert_array_equal(ds.mask(i), single.mask(i))
    np.testing.assert_allclose(ds.stats.mean, single.stats.mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ds.stats.std, single.stats.std, rtol=1e-12)
    assert ds.stats.count == single.stats.count
    reopened = sv.ImageDataset.open(tmp_path / "images")
    assert len(reopened) == len(single) and reopened.grid == 16


def test_embeddings_by_partition_equal_whole_area(client, partitioned, tmp_path) -> None:
    cells = read_cell_partitions(partitioned).compute().set_index("cell_id")
    config = TrainConfig(epochs=1, batch_size=8, model=TINY_MODEL)
    train(build_images(cells, image_level=9), config, out=tmp_path / "run")
    model = tmp_path / "run" / "model.pt"
    out = embed_distributed(partitioned, model, tmp_path / "emb")
    got = read_cell_partitions(out).compute().set_index("cell_id").sort_index()
    want = embed(cells, model).sort_index()
    assert got.index.equals(want.index)
    cols = [c for c in want.columns if c.startswith("emb_")]
    np.testing.assert_allclose(got[cols], want[cols], rtol=1e-5, atol=1e-5)

    from s2vec_geo.cli import main

    cli_out = tmp_path / "emb-cli"
    args = ["embed", str(partitioned), "-m", str(model), "-o", str(cli_out), "--images"]
    assert main([*args, "--scheduler", client.scheduler.address]) == 0
    pooled = read_cell_partitions(cli_out).compute().set_index("cell_id")
    assert read_manifest(cli_out)["level"] == 9
    assert pooled["n_cells"].sum() == len(cells)


def test_sliding_windows_read_across_partition_borders(client, tmp_path) -> None:
    """Two tiles on either side of a level-6 edge land in different partitions.

    Sliding windows over the cells at that edge see both tiles; the partition
    tasks read their neighbours' cells, so every embedding equals the one of
    the whole area embedded at once (without the halo the cells along the edge
    would differ).
    """
    rng = np.random.default_rng(0)
    big = sv.latlng_to_cell(47.0, 9.0, 6)
    tiles = sv.cell_children(big, 9)[7::8][:1]  # a level-9 tile on one edge of the cell
    across = [n for n in sv.cell_edge_neighbors(tiles[0]) if sv.cell_parent(n, 6) != big]
    ids = np.concatenate([sv.cell_children(t, 13) for t in [tiles[0], across[0]]])
    lat, lng = sv.cell_to_latlng(ids)
    points = gpd.GeoDataFrame(
        {"category": rng.choice(["shop", "cafe", "bar"], len(ids))},
        geometry=gpd.points_from_xy(lng, lat),
        crs=4326,
    )
    folder = tmp_path / "cells"
    frame = dask_geopandas.from_geopandas(points, npartitions=2)
    featurize_distributed(frame, 13, out=folder, npartitions=2)
    assert len(read_manifest(folder)["parts"]) == 2
    cells = read_cell_partitions(folder).compute().set_index("cell_id")
    config = TrainConfig(epochs=1, batch_size=2, model=TINY_MODEL)
    model = train(build_images(cells, image_level=9), config)
    got = read_cell_partitions(embed_distributed(folder, model, tmp_path / "emb")).compute()
    want = embed(cells, model)
    got = got.set_index("cell_id").loc[want.index]
    cols = [c for c in want.columns if c.startswith("emb_")]
    np.testing.assert_allclose(got[cols], want[cols], rtol=1e-5, atol=1e-5)


def test_bad_input_is_explained(client, partitioned, tmp_path, sample_pbf) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        featurize_distributed([sample_pbf], level=14, workers=0)
    with pytest.raises(ValueError, match="not both"):
        featurize_distributed([sample_pbf], level=14, workers=1, scheduler="tcp://x:1")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        featurize_distributed([tmp_path / "missing.osm.pbf"], level=14)
    with pytest.raises(FileNotFoundError, match="scratch folder"):
        featurize_distributed([sample_pbf], level=14, scratch=tmp_path / "none")
    with pytest.raises(ValueError, match="already exists"):
        featurize_distributed([sample_pbf], level=14, out=partitioned)
    with pytest.raises(ValueError, match="straddle"):
        build_images_distributed(partitioned, 5, tmp_path / "img")
    with pytest.raises(FileNotFoundError, match="not a partitioned cell folder"):
        read_cell_partitions(tmp_path)


def test_cli_sums_sources_and_writes_partitions(client, sample_pbf, tmp_path) -> None:
    from s2vec_geo.cli import main

    layer = tmp_path / "two.parquet"
    assert (
        main(["featurize", str(sample_pbf), str(sample_pbf), "--level", "14", "-o", str(layer)])
        == 0
    )
    one = sv.featurize(sample_pbf, level=14)
    got = gpd.read_parquet(layer).set_index("cell_id")
    assert got.index.equals(one.index)
    assert (got["poi_cafe"] == 2 * one["poi_cafe"]).all()

    folder = tmp_path / "cells"
    address = client.scheduler.address
    args = ["featurize", str(sample_pbf), "--level", "14", "-o", str(folder)]
    assert main([*args, "--scheduler", address]) == 0
    assert_same_layer(read_cell_partitions(folder).compute().set_index("cell_id"), one)
    assert main([*args, "--scheduler", address]) == 2  # the folder exists: clear error
    assert main([*args[:-2], "--aoi", str(sample_pbf), "-o", str(tmp_path / "x")]) == 2
