"""Coverings against s2geometry's S2RegionCoverer at a fixed level.

The reference builds each region directly with s2geometry (S2Loop per ring,
normalized, S2Polygon.InitNested over all rings of all parts; S2Polyline for
lines; S2LatLngRect for boxes) and asks a fixed-level coverer with an
unlimited cell budget; ``cover`` must return exactly those cells, sorted.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pytest
import s2geometry as s2
import shapely

from s2vec_geo.s2 import cell_level, cover, latlng_to_cell

CALIFORNIA = [
    (-124.2, 42.0), (-120.0, 42.0), (-120.0, 39.0), (-114.6, 35.0), (-114.1, 34.3),
    (-114.7, 32.7), (-117.1, 32.5), (-118.5, 34.0), (-120.6, 34.6), (-122.5, 37.5),
    (-123.8, 39.8), (-124.4, 40.4),
]  # fmt: skip
SIERRA_HOLE = [(-119.8, 37.2), (-118.9, 37.4), (-119.2, 38.1), (-119.9, 37.9)]
HELSINKI = [(24.90, 60.15), (24.99, 60.155), (25.00, 60.19), (24.95, 60.205), (24.89, 60.18)]
HELSINKI_HOLES = [
    [(24.92, 60.16), (24.93, 60.16), (24.93, 60.17)],
    [(24.96, 60.18), (24.975, 60.18), (24.975, 60.19), (24.96, 60.188)],
]


def s2_loop(ring: list[tuple[float, float]]):
    loop = s2.S2Loop([s2.S2LatLng.FromDegrees(lat, lng).ToPoint() for lng, lat in ring])
    loop.Normalize()
    return loop


def s2_covering(region, level: int) -> np.ndarray:
    coverer = s2.S2RegionCoverer()
    coverer.set_min_level(level)
    coverer.set_max_level(level)
    coverer.set_max_cells(2**31 - 1)
    ids = [c.id() for c in coverer.GetCovering(region)]
    return np.sort(np.array(ids, dtype=np.uint64).view(np.int64))


def s2_polygon_covering(rings: list[list[tuple[float, float]]], level: int) -> np.ndarray:
    polygon = s2.S2Polygon()
    polygon.InitNested([s2_loop(r) for r in rings])
    assert polygon.IsValid()
    return s2_covering(polygon, level)


def test_california_with_a_hole_equals_s2geometry_and_is_fast():
    polygon = shapely.Polygon(CALIFORNIA, [SIERRA_HOLE])
    cover(shapely.box(0, 0, 0.1, 0.1), 12)  # warm imports
    start = time.perf_counter()
    ours = cover(polygon, 12)
    elapsed = time.perf_counter() - start
    expected = s2_polygon_covering([CALIFORNIA, SIERRA_HOLE], 12)
    assert len(ours) > 80_000
    np.testing.assert_array_equal(ours, expected)
    assert latlng_to_cell(37.65, -119.4, 12) not in set(ours.tolist())  # inside the hole
    assert elapsed < 3.0, f"California at level 12 took {elapsed:.2f} s"


def test_city_with_holes_equals_s2geometry():
    polygon = shapely.Polygon(HELSINKI, HELSINKI_HOLES)
    np.testing.assert_array_equal(
        cover(polygon, 16), s2_polygon_covering([HELSINKI, *HELSINKI_HOLES], 16)
    )


def test_multipolygon_equals_s2geometry():
    island = [(25.1, 60.1), (25.2, 60.1), (25.15, 60.14)]
    multi = shapely.MultiPolygon(
        [shapely.Polygon(HELSINKI, HELSINKI_HOLES), shapely.Polygon(island)]
    )
    expected = s2_polygon_covering([HELSINKI, *HELSINKI_HOLES, island], 14)
    np.testing.assert_array_equal(cover(multi, 14), expected)


def test_box_is_covered_as_a_lat_lng_rectangle():
    box = shapely.box(-10.0, 40.0, 10.0, 50.0)
    rect = s2.S2LatLngRect(s2.S2LatLng.FromDegrees(40, -10), s2.S2LatLng.FromDegrees(50, 10))
    ours = cover(box, 8)
    np.testing.assert_array_equal(ours, s2_covering(rect, 8))
    # A geodesic top edge would bulge north of 50 N; the rectangle's covering does not.
    north = latlng_to_cell(50.5, 0.0, 8)
    assert north not in set(ours.tolist())


def test_points_give_their_cells_sorted_and_unique():
    points = shapely.MultiPoint([(24.94, 60.17), (24.94, 60.17), (-74.0, 40.7)])
    expected = np.sort(latlng_to_cell([60.17, 40.7], [24.94, -74.0], 15))
    np.testing.assert_array_equal(cover(points, 15), expected)
    np.testing.assert_array_equal(
        cover(shapely.Point(24.94, 60.17), 15), latlng_to_cell(60.17, 24.94, 15)
    )


def test_lines_give_the_cells_they_cross():
    coords = [(24.90, 60.15), (24.99, 60.16), (25.02, 60.20)]
    line = s2.S2Polyline()
    line.InitFromS2Points([s2.S2LatLng.FromDegrees(lat, lng).ToPoint() for lng, lat in coords])
    ours = cover(shapely.LineString(coords), 15)
    np.testing.assert_array_equal(ours, s2_covering(line, 15))
    ends = latlng_to_cell([60.15, 60.20], [24.90, 25.02], 15)
    assert set(ends.tolist()) <= set(ours.tolist())


def test_geometry_collection_and_series_are_unions():
    a = shapely.Polygon(HELSINKI)
    b = shapely.LineString([(25.1, 60.1), (25.3, 60.3)])
    union = np.union1d(cover(a, 13), cover(b, 13))
    np.testing.assert_array_equal(cover(shapely.GeometryCollection([a, b]), 13), union)
    np.testing.assert_array_equal(cover(gpd.GeoSeries([a, b], crs=4326), 13), union)
    np.testing.assert_array_equal(cover([a, b], 13), union)


def test_projected_frame_is_reprojected():
    frame = gpd.GeoDataFrame(geometry=[shapely.Polygon(HELSINKI, HELSINKI_HOLES)], crs=4326)
    projected = frame.to_crs(3857)
    before = projected.copy()
    np.testing.assert_array_equal(cover(projected, 14), cover(frame, 14))
    assert projected.geom_equals(before).all() and projected.crs == before.crs


def test_result_is_sorted_unique_int64_at_the_level():
    cells = cover(shapely.Polygon(HELSINKI), 15)
    assert cells.dtype == np.int64
    assert (np.diff(cells) > 0).all()
    assert (cell_level(cells) == 15).all()


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "make_valid"),  # bow tie
        (shapely.Polygon(), "empty geometry"),
        (gpd.GeoSeries([shapely.Polygon(HELSINKI), None], crs=4326), "not a geometry"),
        (gpd.GeoSeries([shapely.Polygon(HELSINKI)]), "no CRS"),
        (gpd.GeoDataFrame(geometry=[shapely.Polygon(HELSINKI)]), "no CRS"),
        (42, "shapely geometry, a GeoSeries or a GeoDataFrame"),
        ("POLYGON ((0 0, 1 0, 1 1, 0 0))", "shapely geometry"),
        (shapely.box(2_700_000, 8_400_000, 2_800_000, 8_500_000), "projected CRS"),
        ([], "no geometries"),
    ],
)
def test_bad_input_raises_a_helpful_value_error(geometry, message):
    with pytest.raises(ValueError, match=message):
        cover(geometry, 12)


def test_bad_level_raises():
    with pytest.raises(ValueError, match="between 0 and 30"):
        cover(shapely.Point(0, 0), 31)


@pytest.mark.shared_data
def test_nyc_census_tracts_equal_s2geometry(shared_data):
    tracts = gpd.read_file(shared_data / "labels" / "nyc_tract_acs" / "NYC_Tract_ACS2008_12.shp")
    tracts = tracts.set_crs(4326, allow_override=True)  # the .prj does not parse
    tracts = tracts[tracts.is_valid].head(300)
    expected = np.unique(
        np.concatenate(
            [
                s2_polygon_covering(
                    [list(p.exterior.coords)[:-1]] + [list(r.coords)[:-1] for r in p.interiors], 14
                )
                for geom in tracts.geometry
                for p in shapely.get_parts(geom)
            ]
        )
    )
    np.testing.assert_array_equal(cover(tracts, 14), expected)
