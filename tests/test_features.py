"""featurize: stored regression outputs, layer contract, road splitting, AOI, CLI."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

import s2vec_geo
from s2vec_geo.cli import main
from s2vec_geo.core.geodesy import haversine_m
from s2vec_geo.features.counts import group_sum
from s2vec_geo.ingest.taxonomy.tags import load_taxonomy
from s2vec_geo.s2 import cell_to_polygon, cell_to_token, cover, latlng_to_cell

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data"
EXPECTED = Path(__file__).parent / "expected"
UPDATE = os.environ.get("S2VEC_UPDATE_EXPECTED") == "1"
TAX = load_taxonomy()


@pytest.fixture(scope="module")
def features(sample_pbf: Path) -> gpd.GeoDataFrame:
    return s2vec_geo.read_features(sample_pbf)


@pytest.fixture(scope="module")
def cells(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return s2vec_geo.featurize(features, level=15)


def sparse(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """Non-zero (token, feature, value) rows; lengths rounded to centimetres."""
    values = frame[s2vec_geo.feature_columns(frame)]
    long = values.stack()
    long = long[long != 0].round(2)
    out = long.rename("value").reset_index()
    out.columns = ["cell_id", "feature", "value"]
    out.insert(1, "token", cell_to_token(out["cell_id"].to_numpy()))
    return out


def shapefile_features() -> gpd.GeoDataFrame:
    frame = pd.concat(
        [
            s2vec_geo.read_features(DATA / "helsinki_pois.shp"),
            s2vec_geo.read_features(DATA / "helsinki_roads.shp"),
        ],
        ignore_index=True,
    )
    frame.attrs["taxonomy_version"] = TAX.version
    return frame


@pytest.mark.parametrize(
    ("name", "level", "taxonomy"),
    [("helsinki_pbf", 15, "v1"), ("helsinki_shapefiles", 13, "v1"), ("helsinki_pbf", 15, "v2")],
)
def test_matches_stored_expected_output(
    sample_pbf: Path, name: str, level: int, taxonomy: str
) -> None:
    # Stored per taxonomy version: a new taxonomy version needs new, reviewed files
    # (regenerate with S2VEC_UPDATE_EXPECTED=1 and inspect the diff).
    version = load_taxonomy(taxonomy).version
    path = EXPECTED / f"{name}_level{level}_taxonomy{version}.csv"
    source = sample_pbf if name == "helsinki_pbf" else shapefile_features()
    got = sparse(s2vec_geo.featurize(source, level=level, taxonomy=taxonomy))
    if UPDATE:
        got.to_csv(path, index=False)
    expected = pd.read_csv(path)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, atol=0.01)


def test_layer_contract(cells: gpd.GeoDataFrame) -> None:
    assert cells.index.name == "cell_id" and cells.index.dtype == np.int64
    assert cells.index.is_unique and cells.index.is_monotonic_increasing
    assert cells.crs.to_epsg() == 4326
    columns = TAX.feature_columns()
    assert list(cells.columns) == ["token", *columns, "geometry"]
    assert s2vec_geo.feature_columns(cells) == columns == cells.attrs["feature_columns"]
    assert cells.attrs["level"] == 15 and cells.attrs["taxonomy_version"] == TAX.version
    lengths = [c for c in columns if c.startswith("road_length_m_")]
    assert (cells[lengths].dtypes == np.float64).all()
    assert (cells[[c for c in columns if c not in lengths]].dtypes == np.int32).all()
    assert cells["token"].tolist() == cell_to_token(cells.index.to_numpy()).tolist()
    assert cells.geometry.geom_equals(
        gpd.GeoSeries(cell_to_polygon(cells.index.to_numpy()), index=cells.index, crs=4326)
    ).all()
    # the same columns from a frame read back from disk (attrs are not stored)
    assert s2vec_geo.feature_columns(pd.DataFrame(cells).reset_index()) == columns


def test_totals_are_preserved(features: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> None:
    for category, n in features.loc[features.kind != "road", "category"].value_counts().items():
        column = category if category in TAX.node_features else f"poi_{category}"
        assert cells[column].sum() == n, category
    roads = features[features.kind == "road"]
    geod = pyproj.Geod(ellps="WGS84")
    for road_class, group in roads.groupby("category"):
        total = sum(geod.geometry_length(g) for g in group.geometry)
        got = cells[f"road_length_m_{road_class}"].sum()
        assert got == pytest.approx(total, rel=5e-3), road_class  # sphere vs ellipsoid
        assert cells[f"road_count_{road_class}"].sum() >= len(group)


def test_roads_are_split_at_cell_boundaries() -> None:
    # a 35 km diagonal road crosses many level-12 cells; compare each cell's length with
    # an independent estimate: 200,000 points along the line, each weighted by the metres
    # of line it stands for, summed per cell by the point-in-cell function
    line = shapely.LineString([(24.5, 60.0), (24.9, 60.25)])
    roads = gpd.GeoDataFrame({"category": ["primary"], "kind": ["road"]}, geometry=[line], crs=4326)
    roads.attrs["taxonomy_version"] = TAX.version
    got = s2vec_geo.featurize(roads, level=12)["road_length_m_primary"]
    total = float(haversine_m(24.5, 60.0, 24.9, 60.25))
    t = (np.arange(200_000) + 0.5) / 200_000
    lat = 60.0 + 0.25 * t
    ds = np.hypot(0.25, 0.4 * np.cos(np.radians(lat)))  # local length per unit t
    sampled = latlng_to_cell(lat, 24.5 + 0.4 * t, 12)
    share = pd.Series(ds, index=sampled).groupby(level=0).sum() / ds.sum() * got.sum()
    ids = share.index
    # pieces follow the straight lng/lat segment, a hair longer than the great circle
    assert got.sum() == pytest.approx(total, rel=1e-5)
    assert len(got) > 12
    big = got[got > 5.0]  # pieces longer than the sampling step are all seen by sampling
    assert set(big.index) <= set(ids)
    # cells are cut along straight lng/lat edges, S2 edges are geodesics: ~1 m apart here
    np.testing.assert_allclose(big.to_numpy(), share[big.index].to_numpy(), atol=2.0)
    assert set(ids) <= set(cover(line, 12))  # and every cell lies on the line's covering


def test_road_counts_count_lines_per_cell() -> None:
    cell_edge = shapely.LineString([(24.90, 60.15), (24.90, 60.30)])  # crosses cells
    short = [shapely.LineString([(24.9401, 60.1701), (24.9402, 60.1702)])] * 2
    roads = gpd.GeoDataFrame(
        {"category": ["residential"] * 3, "kind": ["road"] * 3},
        geometry=[cell_edge, *short],
        crs=4326,
    )
    roads.attrs["taxonomy_version"] = TAX.version
    out = s2vec_geo.featurize(roads, level=12)
    home = latlng_to_cell(60.1701, 24.9401, 12)
    # the same without any line crossing a cell edge, plus a zero-length line
    point_line = shapely.LineString([(24.95, 60.17), (24.95, 60.17)])
    alone = s2vec_geo.featurize(roads.iloc[1:].assign(geometry=[short[0], point_line]), level=12)
    assert alone["road_count_residential"].tolist() == [1]  # no length: no road
    assert out.loc[home, "road_count_residential"] == 2
    crossed = out.drop(index=home)
    assert len(crossed) > 3 and (crossed["road_count_residential"] == 1).all()


def test_aoi_gives_every_covering_cell(tmp_path: Path, features: gpd.GeoDataFrame) -> None:
    aoi = shapely.box(24.935, 60.160, 24.955, 60.175)
    out = s2vec_geo.featurize(features, level=15, aoi=aoi)
    covering = cover(aoi, 15)
    assert out.index.to_numpy().tolist() == covering.tolist()
    assert (out[s2vec_geo.feature_columns(out)].sum(axis=1) == 0).any()  # zeros included
    path = tmp_path / "aoi.geojson"
    gpd.GeoDataFrame(geometry=[aoi], crs=4326).to_file(path)
    from_file = s2vec_geo.featurize(features, level=15, aoi=path)
    pd.testing.assert_frame_equal(from_file.drop(columns="geometry"), out.drop(columns="geometry"))
    projected = tmp_path / "aoi_3067.gpkg"  # any CRS: covered after reprojection
    gpd.GeoDataFrame(geometry=[aoi], crs=4326).to_crs(3067).to_file(projected)
    got = s2vec_geo.featurize(features, level=15, aoi=projected).index.to_numpy()
    assert got.tolist() == cover(gpd.read_file(projected), 15).tolist()
    empty = s2vec_geo.featurize(features.iloc[:0], level=15, aoi=aoi)  # nothing there
    assert len(empty) == len(covering) and not empty[s2vec_geo.feature_columns(empty)].any().any()
    with pytest.raises(ValueError, match="AOI does not intersect the features"):
        s2vec_geo.featurize(features, level=15, aoi=shapely.box(-74.0, 40.7, -73.9, 40.8))
    with pytest.raises(FileNotFoundError, match="AOI file"):
        s2vec_geo.featurize(features, level=15, aoi=tmp_path / "missing.gpkg")


def test_entry_points_agree_and_repeat(
    sample_pbf: Path, features: gpd.GeoDataFrame, cells: gpd.GeoDataFrame
) -> None:
    for other in (
        s2vec_geo.featurize(sample_pbf, level=15),
        features.s2vec.featurize(level=15),
        s2vec_geo.featurize(features, level=15),
    ):
        pd.testing.assert_frame_equal(
            other.drop(columns="geometry"), cells.drop(columns="geometry")
        )


def test_own_categories_become_columns() -> None:
    shops = gpd.GeoDataFrame(
        {"type": ["grocery", "books", "grocery"]},
        geometry=shapely.points([(24.94, 60.17), (24.94, 60.17), (24.95, 60.17)]),
        crs=4326,
    ).to_crs(3067)
    out = shops.s2vec.featurize(level=10, category_column="type")
    assert s2vec_geo.feature_columns(out) == ["poi_books", "poi_grocery"]
    assert out[["poi_books", "poi_grocery"]].sum().tolist() == [1, 2]
    assert out.attrs["taxonomy_version"] is None


def test_a_name_both_poi_and_node_feature_is_rejected() -> None:
    frame = gpd.GeoDataFrame(
        {"category": ["intersections", "intersections"], "kind": ["poi", "node"]},
        geometry=shapely.points([(24.94, 60.17), (24.95, 60.17)]),
        crs=4326,
    )
    with pytest.raises(ValueError, match=r"'intersections'.*both a POI category and a node"):
        s2vec_geo.featurize(frame, level=12)


def test_categorical_categories_count_only_those_present(
    features: gpd.GeoDataFrame, cells: gpd.GeoDataFrame
) -> None:
    # one dtype shared by POIs, roads and nodes, declaring a category no row has
    names = [*TAX.poi_categories, *TAX.road_classes, *TAX.node_features, "never_used"]
    shared = features.astype({"category": pd.CategoricalDtype(names)})
    pd.testing.assert_frame_equal(s2vec_geo.featurize(shared, level=15), cells)
    own = gpd.GeoDataFrame(
        {"category": pd.Categorical(["a", "b", "a"], categories=["b", "a", "road"])},
        geometry=shapely.points([(1, 1), (1, 1), (2, 2)]),
        crs=4326,
    )
    assert s2vec_geo.feature_columns(s2vec_geo.featurize(own, level=10)) == ["poi_a", "poi_b"]


def test_sort_packing_matches_generic_group_by() -> None:
    rng = np.random.default_rng(7)
    lat, lng = rng.uniform(40, 41, 100_000), rng.uniform(-75, -74, 100_000)
    codes = rng.integers(0, 135, 100_000)
    for level in (8, 12, 20):
        cells = latlng_to_cell(lat, lng, level)
        fast = group_sum(cells, codes, level=level)
        slow = group_sum(cells, codes)
        for a, b in zip(fast, slow, strict=True):
            np.testing.assert_array_equal(a, b)
    deep = s2vec_geo.featurize(
        gpd.GeoDataFrame(
            {"category": ["a", "b", "a"]},
            geometry=shapely.points([(1, 1), (1, 1), (2, 2)]),
            crs=4326,
        ),
        level=30,  # no free id bits: the generic path
    )
    rows = deep[["poi_a", "poi_b"]].to_numpy().tolist()
    assert sorted(map(tuple, rows)) == [(1, 0), (1, 1)]


def test_bad_input(features: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="level"):
        s2vec_geo.featurize(features, level=31)
    with pytest.raises(ValueError, match="taxonomy version '1' but featurize got version 't9'"):
        s2vec_geo.featurize(
            features,
            level=12,
            taxonomy={
                "name": "x",
                "version": "t9",
                "poi_keys": [],
                "poi_categories": [{"name": "a", "tags": {"amenity": ["cafe"]}}],
                "road_classes": [],
            },
        )
    wrong = features.assign(category="not_a_category")
    with pytest.raises(ValueError, match="not_a_category"):
        s2vec_geo.featurize(wrong, level=12)
    with pytest.raises(ValueError, match="no CRS"):
        s2vec_geo.featurize(features.set_crs(None, allow_override=True), level=12)


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_cli_writes_readable_layers(
    tmp_path: Path, sample_pbf: Path, cells: gpd.GeoDataFrame, suffix: str
) -> None:
    out = tmp_path / f"cells{suffix}"
    assert main(["featurize", str(sample_pbf), "--level", "15", "--output", str(out)]) == 0
    back = gpd.read_file(out) if suffix == ".gpkg" else gpd.read_parquet(out)
    assert back["cell_id"].dtype == np.int64
    assert back["cell_id"].tolist() == cells.index.tolist()
    assert back["token"].tolist() == cells["token"].tolist()
    assert s2vec_geo.feature_columns(back) == TAX.feature_columns()
    assert back["poi_cafe"].tolist() == cells["poi_cafe"].tolist()


def test_cli_bad_input_keeps_existing_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cells.gpkg"
    out.write_bytes(b"previous result")
    code = main(
        ["featurize", str(DATA / "helsinki_pois.shp"), "--category-column", "nope", "-o", str(out)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "s2vec featurize: error: category column 'nope'" in err and "amenity" in err
    assert out.read_bytes() == b"previous result"
    assert main(["featurize", str(tmp_path / "none.osm.pbf"), "-o", str(out)]) == 2
    assert main(["featurize", str(DATA / "helsinki.osm.pbf"), "-o", str(tmp_path / "x.csv")]) == 2
    assert out.read_bytes() == b"previous result"
