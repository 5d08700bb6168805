"""Reading buildings and land use (taxonomy v2) from OSM, OGR layers and GeoParquet."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import s2vec_geo
from s2vec_geo.features.equal_area import polygon_areas

# Known answers: a house with 3 levels, a school building (building=yes refined by
# amenity), an open way tagged building (no area), an apartment block as a multipolygon
# relation with a courtyard, a forest, a self-crossing (bowtie) building that must be
# repaired, and a tree row (natural, but no land use).
SQUARES = {  # first node id: (south, west, north, east)
    1: (60.0000, 25.0000, 60.0001, 25.0002),
    11: (60.0010, 25.0010, 60.0012, 25.0014),
    21: (60.0020, 25.0020, 60.0025, 25.0030),
    25: (60.0021, 25.0022, 60.0024, 25.0028),
    31: (60.0100, 25.0100, 60.0150, 25.0200),
    41: (60.0030, 25.0030, 60.0031, 25.0031),
}
WAYS = {  # way id: (node ids, tags)
    200: ([1, 2, 3, 4, 1], {"building": "house", "building:levels": "3"}),
    201: ([11, 12, 13, 14, 11], {"building": "yes", "amenity": "school"}),
    202: ([1, 12], {"building": "yes"}),
    203: ([21, 22, 23, 24, 21], {}),
    204: ([25, 26, 27, 28, 25], {}),
    205: ([31, 32, 33, 34, 31], {"landuse": "forest"}),
    206: ([41, 43, 42, 44, 41], {"building": "yes"}),  # corners crossed: a bowtie
    207: ([31, 33, 34, 31], {"natural": "tree_row"}),
}


def toy_document() -> str:
    """OSM XML of the squares (corners counter-clockwise from south-west), ways and block."""

    def tags(values: dict[str, str]) -> str:
        return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in values.items())

    lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6">']
    for first, (south, west, north, east) in SQUARES.items():
        corners = [(south, west), (south, east), (north, east), (north, west)]
        for k, (lat, lng) in enumerate(corners):
            lines.append(f'<node id="{first + k}" version="1" lat="{lat}" lon="{lng}"/>')
    for way, (nodes, values) in WAYS.items():
        refs = "".join(f'<nd ref="{n}"/>' for n in nodes)
        lines.append(f'<way id="{way}" version="1">{refs}{tags(values)}</way>')
    members = (
        '<member type="way" ref="203" role="outer"/><member type="way" ref="204" role="inner"/>'
    )
    block = tags({"type": "multipolygon", "building": "apartments"})
    lines += [f'<relation id="300" version="1">{members}{block}</relation>', "</osm>"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def toy_areas(osm_xml) -> Path:
    return osm_xml("areas.osm", toy_document())


def test_osm_buildings_and_landuse_with_known_answers(toy_areas: Path) -> None:
    f = s2vec_geo.read_features(toy_areas, taxonomy="v2")
    areas = f[f["kind"].isin(["building", "landuse"])].set_index(["osm_type", "osm_id"])
    assert sorted(areas.index) == [("r", 300), ("w", 200), ("w", 201), ("w", 205), ("w", 206)]
    got = {key: f"{r.kind} {r.category} {r.levels}" for key, r in areas.iterrows()}
    assert got == {
        ("w", 200): "building residential 3.0",  # tagged levels
        ("w", 201): "building civic 2.0",  # building=yes + amenity=school; civic default
        ("r", 300): "building residential 4.0",  # apartments: 4 levels when untagged
        ("w", 205): "landuse forest nan",
        ("w", 206): "building other 1.0",
    }
    assert (f.loc[f["osm_id"] == 201, "kind"].tolist()) == ["poi", "building"]  # also a POI
    block = areas.loc[("r", 300), "geometry"]
    assert shapely.get_num_interior_rings(shapely.get_parts(block)).tolist() == [1]  # courtyard
    outer, inner = (
        shapely.box(25.0020, 60.0020, 25.0030, 60.0025),
        shapely.box(25.0022, 60.0021, 25.0028, 60.0024),
    )
    assert polygon_areas([block])[0] == pytest.approx(
        polygon_areas([outer])[0] - polygon_areas([inner])[0], rel=1e-9
    )
    bowtie = areas.loc[("w", 206), "geometry"]
    assert bowtie.is_valid and bowtie.area > 0  # repaired, both triangles kept
    assert areas.geometry.is_valid.all()
    v1 = s2vec_geo.read_features(toy_areas)
    assert set(v1["kind"]) <= {"poi", "road", "node"} and "levels" not in v1


def test_bbox_cuts_area_polygons(toy_areas: Path) -> None:
    box = (25.0, 59.99, 25.015, 60.02)  # cuts the forest in half, keeps the buildings
    f = s2vec_geo.read_features(toy_areas, taxonomy="v2", bbox=box)
    forest = f.loc[f["category"] == "forest", "geometry"].iloc[0]
    assert forest.equals(shapely.box(25.01, 60.01, 25.015, 60.015).normalize()) or (
        forest.symmetric_difference(shapely.box(25.01, 60.01, 25.015, 60.015)).area < 1e-15
    )
    assert (f["kind"] == "building").sum() == 4


@pytest.fixture(scope="module")
def helsinki_v2(sample_pbf: Path) -> gpd.GeoDataFrame:
    return s2vec_geo.read_features(sample_pbf, taxonomy="v2")


@pytest.mark.filterwarnings("ignore:.*ring:RuntimeWarning")
def test_gdal_osm_layer_with_tag_columns_classifies_like_the_pbf(
    sample_pbf: Path, helsinki_v2: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    # GDAL's own OSM reader assembles the polygons independently; its tag columns are read
    # by the OGR path (GeoPackage and GeoParquet) and must give the same classes and areas
    gdal = gpd.read_file(sample_pbf, layer="multipolygons", on_invalid="ignore")
    gdal = gdal[gdal["osm_way_id"].notna() & gdal.geometry.notna()].assign(
        osm_id=lambda g: g["osm_way_id"].astype(int)
    )
    gdal = gdal.drop(columns=["osm_way_id", "other_tags"])
    gdal.to_file(tmp_path / "polygons.gpkg")
    gdal.to_parquet(tmp_path / "polygons.parquet")
    ours = helsinki_v2[(helsinki_v2["osm_type"] == "w")]
    for path in (tmp_path / "polygons.gpkg", tmp_path / "polygons.parquet"):
        read = s2vec_geo.read_features(path, taxonomy="v2")
        for kind in ("building", "landuse"):
            a = read[read["kind"] == kind].set_index("osm_id")
            b = ours[ours["kind"] == kind].set_index("osm_id")
            shared = a.index.intersection(b.index)
            assert len(shared) > 0.95 * len(b), kind
            assert (a.loc[shared, "category"] == b.loc[shared, "category"]).all(), kind
            np.testing.assert_allclose(
                polygon_areas(a.loc[shared].geometry.values),
                polygon_areas(b.loc[shared].geometry.values),
                rtol=1e-9,
            )


@pytest.mark.filterwarnings("ignore:.*ring:RuntimeWarning", "ignore:organizePolygons")
def test_unreadable_rings_written_by_gdal_are_skipped_not_fatal(
    sample_pbf: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GDAL's OSM reader writes a few rings of two points for ways cut by the extract;
    # copied as they are into a GeoPackage, they must be counted and skipped
    meta, table = pyogrio.read_arrow(sample_pbf, layer="multipolygons")
    path = tmp_path / "as_gdal_wrote_it.gpkg"
    pyogrio.write_arrow(
        table,
        path,
        geometry_name=meta["geometry_name"] or "wkb_geometry",
        geometry_type="MultiPolygon",
        crs=meta["crs"],
    )
    with caplog.at_level(logging.WARNING):
        f = s2vec_geo.read_features(path, taxonomy="v2")
    assert (f["kind"] == "building").sum() > 400
    assert "missing or empty geometry" in caplog.text


def test_category_column_building_and_landuse_layers(
    helsinki_v2: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    buildings = helsinki_v2[helsinki_v2["kind"] == "building"]
    layer = gpd.GeoDataFrame(
        {
            "klass": buildings["category"].to_numpy(),
            "building:levels": np.where(np.arange(len(buildings)) % 2, 5.0, np.nan),
        },
        geometry=buildings.geometry.to_numpy(),
        crs=4326,
    ).to_crs(3067)  # any CRS
    layer.to_file(tmp_path / "b.gpkg")
    layer.to_parquet(tmp_path / "b.parquet")
    for path in (tmp_path / "b.gpkg", tmp_path / "b.parquet"):
        f = s2vec_geo.read_features(
            path, category_column="klass", polygons="building", taxonomy="v2"
        )
        assert (f["kind"] == "building").all() and f.attrs["taxonomy_version"] == "2"
        assert f["category"].tolist() == buildings["category"].tolist()
        defaults = [2.0 if c in ("residential", "commercial", "civic") else 1.0 for c in f.category]
        want = np.where(np.arange(len(f)) % 2, 5.0, defaults)  # tagged, else class default
        np.testing.assert_array_equal(f["levels"].to_numpy(), want)
        np.testing.assert_allclose(  # after a round trip through EPSG:3067
            polygon_areas(f.geometry.values), polygon_areas(buildings.geometry.values), rtol=1e-5
        )
    landuse = helsinki_v2[helsinki_v2["kind"] == "landuse"]
    own = gpd.GeoDataFrame({"cover": "x_" + landuse["category"]}, geometry=landuse.geometry.values)
    cells = s2vec_geo.featurize(
        own.set_crs(4326), level=15, category_column="cover", polygons="landuse"
    )
    assert cells.attrs["taxonomy_version"] is None
    want = polygon_areas(landuse.geometry.values).sum()
    columns = [c for c in cells.columns if c.startswith("landuse_area_m2_x_")]
    assert cells[columns].to_numpy().sum() == pytest.approx(want, rel=1e-9)


def test_bad_polygon_options_are_explained(sample_pbf: Path) -> None:
    shops = gpd.GeoDataFrame(
        {"kind_of": ["a"]}, geometry=[shapely.box(24.9, 60.1, 24.91, 60.11)], crs=4326
    )
    with pytest.raises(ValueError, match="polygons='roof' is not one of poi, building, landuse"):
        s2vec_geo.read_features(shops, category_column="kind_of", polygons="roof")
    with pytest.raises(ValueError, match="applies to layers read with category_column="):
        s2vec_geo.read_features(sample_pbf, polygons="building")
    with pytest.raises(ValueError, match=r"building categories \['a'\].*not in taxonomy"):
        s2vec_geo.read_features(
            shops, category_column="kind_of", polygons="building", taxonomy="v2"
        )
    flat = shops.assign(geometry=[shapely.Polygon([(24.9, 60.1), (24.91, 60.1), (24.92, 60.1)])])
    with pytest.raises(ValueError, match=r"no features left.*1 polygon with no area left"):
        s2vec_geo.read_features(flat, category_column="kind_of", polygons="landuse")
    frame = pd.DataFrame({"category": ["forest"], "kind": ["landuse"]})
    points = gpd.GeoDataFrame(frame, geometry=[shapely.Point(24.9, 60.1)], crs=4326)
    with pytest.raises(ValueError, match="1 landuse row\\(s\\) are not polygons"):
        s2vec_geo.featurize(points, level=12, taxonomy="v2")
