"""Taxonomy v2 cells: buildings and land use per cell, selected from every entry point."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import s2vec_geo
from s2vec_geo.cli import main
from s2vec_geo.ingest import osm_header_bbox
from s2vec_geo.s2 import cell_to_polygon, cover

V2 = s2vec_geo.load_taxonomy("v2")
AREA_KINDS = {"building": "building_area_m2_", "landuse": "landuse_area_m2_"}


@pytest.fixture(scope="module")
def features(sample_pbf: Path) -> gpd.GeoDataFrame:
    return s2vec_geo.read_features(sample_pbf, taxonomy="v2")


@pytest.fixture(scope="module")
def cells(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return s2vec_geo.featurize(features, level=15)


def test_v2_layer_contract(cells: gpd.GeoDataFrame, sample_pbf: Path) -> None:
    columns = V2.feature_columns()
    assert list(cells.columns) == ["token", *columns, "geometry"]
    assert cells.attrs["taxonomy_version"] == "2" and cells.attrs["feature_columns"] == columns
    counts = [c for c in columns if c.startswith("building_count_")]
    areas = [c for c in columns if "_area_m2_" in c]
    assert (cells[counts].dtypes == np.int32).all() and (cells[areas].dtypes == np.float64).all()
    v1 = s2vec_geo.featurize(sample_pbf, level=15)
    shared = s2vec_geo.feature_columns(v1)
    pd.testing.assert_frame_equal(cells[shared].loc[v1.index], v1[shared])  # v1 part unchanged


def test_entry_points_select_the_taxonomy(
    sample_pbf: Path, features: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    plain = cells.drop(columns="geometry")
    for other in (
        s2vec_geo.featurize(sample_pbf, level=15, taxonomy="v2"),
        features.s2vec.featurize(level=15),  # the taxonomy the features were read with
        features.s2vec.featurize(level=15, taxonomy="v2"),
    ):
        pd.testing.assert_frame_equal(other.drop(columns="geometry"), plain)
    with pytest.raises(ValueError, match="read with taxonomy version '2' but featurize got"):
        s2vec_geo.featurize(features, level=15, taxonomy="v1")
    copy = tmp_path / "mine.json"
    copy.write_text(resources.files("s2vec_geo").joinpath("data", "taxonomy_v2.json").read_text())
    for choice in ("v2", str(copy)):
        out = tmp_path / f"{Path(choice).stem}.parquet"
        args = ["featurize", str(sample_pbf), "--level", "15", "--taxonomy", choice]
        assert main([*args, "-o", str(out)]) == 0
        back = gpd.read_parquet(out).set_index("cell_id")
        assert s2vec_geo.feature_columns(back) == V2.feature_columns()
        np.testing.assert_allclose(
            back[V2.feature_columns()].to_numpy(float), plain[V2.feature_columns()].to_numpy(float)
        )
    v1_out = tmp_path / "v1.parquet"
    assert main(["featurize", str(sample_pbf), "--level", "15", "-o", str(v1_out)]) == 0
    assert "building_area_m2_other" not in gpd.read_parquet(v1_out)  # v1 stays the default


def test_cli_size_guard_is_one_clear_line(
    sample_pbf: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cells.gpkg"
    args = ["featurize", str(sample_pbf), "--taxonomy", "v2", "--level", "22", "-o", str(out)]
    assert main([*args, "--max-cells-per-polygon", "1000"]) == 2
    lines = [x for x in capsys.readouterr().err.splitlines() if "error" in x]
    assert len(lines) == 1 and lines[0].startswith("s2vec featurize: error: ")
    assert "would cover about" in lines[0] and "coarser level" in lines[0]
    assert not out.exists()


def independent_areas(polygons: gpd.GeoDataFrame, region: shapely.Geometry | None) -> pd.Series:
    """Square metres per (kind, class) with GeoPandas alone: EPSG:6933, clipped to ``region``."""
    projected = polygons.to_crs(6933)
    shapes = projected.geometry if region is None else projected.intersection(region)
    area = shapes.area
    floors = area * polygons["levels"].fillna(1.0).to_numpy()
    keys = polygons["kind"] + ":" + polygons["category"]
    out = area.groupby(keys.to_numpy()).sum()
    floor = floors[polygons["kind"].to_numpy() == "building"]
    floor_keys = "floor:" + polygons.loc[polygons["kind"] == "building", "category"]
    return pd.concat([out, floor.groupby(floor_keys.to_numpy()).sum()])


def cell_sums(cells: gpd.GeoDataFrame) -> pd.Series:
    sums = {}
    for column in cells.columns:
        for kind, prefix in (*AREA_KINDS.items(), ("floor", "building_floor_area_m2_")):
            if column.startswith(prefix):
                sums[f"{kind}:{column.removeprefix(prefix)}"] = cells[column].sum()
    return pd.Series(sums)


def compare(got: pd.Series, want: pd.Series) -> None:
    both = pd.concat([got.rename("got"), want.rename("want")], axis=1).fillna(0.0)
    relative = (both["got"] - both["want"]).abs() / both["want"].clip(lower=1.0)
    assert relative.max() < 1e-6, both[relative >= 1e-6]


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name",
    [
        "valhalla-liechtenstein.osm.pbf",
        "graphhopper-north-bayreuth.osm.pbf",
        "graphhopper-krems.osm.pbf",
    ],
)
def test_real_extracts_cell_areas_sum_to_the_polygons_inside_the_aoi(
    shared_data: Path, name: str
) -> None:
    path = shared_data / "osm" / name
    features = s2vec_geo.read_features(path, taxonomy="v2", bbox=osm_header_bbox(path))
    polygons = features[features["kind"].isin(list(AREA_KINDS))]
    assert (polygons["kind"] == "building").sum() > 1000
    level = 16
    whole = s2vec_geo.featurize(features, level=level)
    compare(cell_sums(whole), independent_areas(polygons, None))
    buildings = polygons[polygons["kind"] == "building"]
    for cls, n in buildings["category"].value_counts().items():
        assert whole[f"building_count_{cls}"].sum() == n  # every building counted once
    # an area of interest in the middle: only its cells, the polygons' parts inside them
    x0, y0, x1, y1 = features.total_bounds
    aoi = shapely.box(
        x0 + (x1 - x0) / 4, y0 + (y1 - y0) / 4, x1 - (x1 - x0) / 3, y1 - (y1 - y0) / 3
    )
    inside = s2vec_geo.featurize(features, level=level, aoi=aoi)
    region = gpd.GeoSeries(cell_to_polygon(cover(aoi, level)), crs=4326).to_crs(6933).union_all()
    compare(cell_sums(inside), independent_areas(polygons, region))
    assert 0 < cell_sums(inside).sum() < cell_sums(whole).sum()


def test_selecting_v1_gives_the_default(sample_pbf: Path) -> None:
    # v1 outputs are checked against tests/expected by test_features.py; selecting v1
    # explicitly gives the very same frame as the default
    default = s2vec_geo.featurize(sample_pbf, level=15)
    pd.testing.assert_frame_equal(s2vec_geo.featurize(sample_pbf, level=15, taxonomy="v1"), default)
    assert default.attrs["feature_columns"] == s2vec_geo.load_taxonomy().feature_columns()


def test_v2_cells_build_images_that_record_the_feature_set(cells: gpd.GeoDataFrame) -> None:
    from s2vec_geo.images import build_images

    images = build_images(cells, image_level=12)
    assert images.taxonomy_version == "2"
    assert list(images.feature_names) == V2.feature_columns()
    assert len(images) > 0
