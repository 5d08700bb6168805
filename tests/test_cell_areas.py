"""Polygons cut at S2 cell edges: corner splits, sums, agreement with GeoPandas, size guard."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from s2vec_geo.features.cut import split_polygons
from s2vec_geo.features.equal_area import polygon_areas
from s2vec_geo.s2 import cell_to_boundary, cell_to_polygon, latlng_to_cell

METRES = 1 / 111_320  # about a metre of latitude, in degrees


def overlay_parts(polygons: np.ndarray, cells: np.ndarray) -> pd.Series:
    """Independent parts: GeoPandas overlay of the polygons and the cells, in EPSG:6933."""
    left = gpd.GeoDataFrame({"owner": np.arange(len(polygons))}, geometry=list(polygons), crs=4326)
    right = gpd.GeoDataFrame({"cell": cells}, geometry=cell_to_polygon(cells), crs=4326)
    both = gpd.overlay(left.to_crs(6933), right.to_crs(6933), keep_geom_type=True)
    return both.assign(area=both.area).groupby(["owner", "cell"])["area"].sum()


def as_series(parts) -> pd.Series:
    index = pd.MultiIndex.from_arrays([parts.owner, parts.cell], names=["owner", "cell"])
    return pd.Series(parts.area, index=index).groupby(level=[0, 1]).sum()


def test_building_on_a_cell_corner_splits_into_the_four_right_parts() -> None:
    level = 16
    corner_lat, corner_lng = cell_to_boundary(latlng_to_cell(47.14, 9.52, level))[2]
    # the four cells meeting at the corner: a point a metre into each quadrant
    around = latlng_to_cell(
        corner_lat + np.array([1, 1, -1, -1]) * METRES,
        corner_lng + np.array([1, -1, 1, -1]) * METRES / np.cos(np.radians(corner_lat)),
        level,
    )
    assert len(set(around)) == 4
    half = 10 * METRES  # a 20 x 20 m footprint, slightly rotated
    square = shapely.affinity.rotate(
        shapely.box(corner_lng - half, corner_lat - half, corner_lng + half, corner_lat + half),
        7.0,
    )
    parts = split_polygons(np.array([square]), level)
    assert sorted(parts.cell) == sorted(around)
    got = as_series(parts).droplevel(0)
    want = overlay_parts(np.array([square]), around).droplevel(0)
    np.testing.assert_allclose(got[want.index], want, rtol=1e-9)
    assert got.sum() == pytest.approx(polygon_areas([square])[0], rel=1e-12)
    assert (got > 0.15 * got.sum()).all()  # four real parts, not slivers


def shapes(rng: np.random.Generator, n: int) -> list[shapely.Geometry]:
    """Footprints of many sizes: rotated boxes, L-shapes, polygons with holes, multipolygons."""
    out = []
    for _ in range(n):
        lng, lat = rng.uniform(9.50, 9.56), rng.uniform(47.10, 47.15)
        w, h = rng.uniform(5, 400, 2) * METRES
        box = shapely.box(lng, lat, lng + w / 0.68, lat + h)
        kind = rng.integers(4)
        if kind == 1:  # L-shape: concave
            box = box.difference(shapely.box(lng + w / 1.36, lat + h / 2, lng + w, lat + h))
        elif kind == 2:  # a courtyard
            box = box.difference(box.centroid.buffer(min(w, h) / 4))
        elif kind == 3:  # two parts
            box = shapely.MultiPolygon([box, shapely.affinity.translate(box, 2 * w, 0)])
        out.append(shapely.affinity.rotate(box, rng.uniform(0, 90)))
    return out


@pytest.mark.parametrize("level", [11, 14, 17])
def test_parts_sum_to_each_polygon_and_match_an_overlay(level: int) -> None:
    polygons = np.array(shapes(np.random.default_rng(level), 300), dtype=object)
    parts = split_polygons(polygons, level)
    sums = np.bincount(parts.owner, weights=parts.area, minlength=len(polygons))
    np.testing.assert_allclose(sums, polygon_areas(polygons), rtol=1e-9)
    assert (parts.area > 0).all() and (np.bincount(parts.owner) > 1).any()
    got, want = as_series(parts), overlay_parts(polygons, np.unique(parts.cell))
    both = pd.concat([got.rename("got"), want.rename("want")], axis=1).fillna(0.0)
    scale = both.groupby(level="owner")["want"].transform("sum")
    assert ((both["got"] - both["want"]).abs() / scale).max() < 1e-9
    assert set(want.index) == set(got.index)  # no part missing, no stray cell


def test_whole_cells_inside_a_polygon_get_their_own_area() -> None:
    level = 15
    field = shapely.box(24.90, 60.10, 24.96, 60.13)  # about 3.3 x 3.3 km
    parts = split_polygons(np.array([field]), level)
    cells = parts.cell
    whole = polygon_areas(cell_to_polygon(cells))
    inside = shapely.contains_properly(field, cell_to_polygon(cells))
    assert inside.sum() > 50
    np.testing.assert_allclose(parts.area[inside], whole[inside], rtol=1e-12)
    assert parts.area.sum() == pytest.approx(polygon_areas([field])[0], rel=1e-12)


def test_polygons_inside_one_cell_keep_their_whole_area() -> None:
    rng = np.random.default_rng(3)
    lng, lat = rng.uniform(9.5, 9.6, 500), rng.uniform(47.1, 47.2, 500)
    tiny = shapely.buffer(shapely.points(lng, lat), 2 * METRES)  # 2 m round sheds
    home = latlng_to_cell(lat, lng, 13)
    parts = split_polygons(tiny, 13)
    one = np.bincount(parts.owner) == 1
    assert one.mean() > 0.95  # all but the few on a cell edge
    np.testing.assert_array_equal(parts.cell[one[parts.owner]], home[one])
    np.testing.assert_allclose(parts.area[one[parts.owner]], polygon_areas(tiny)[one], rtol=1e-12)


def test_size_guard_refuses_before_allocating_and_can_be_lifted() -> None:
    continent = shapely.box(0.0, 40.0, 20.0, 55.0)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"would cover about [\d,]+ level-30 cells") as info:
        split_polygons(np.array([continent]), 30, ids=np.array([4242]))
    assert time.perf_counter() - start < 5  # refused from the estimate, nothing per cell
    message = str(info.value)
    assert "osm_id 4242" in message and "coarser level" in message and "\n" not in message
    forest = shapely.box(24.90, 60.10, 24.93, 60.115)  # about 1.7 x 1.7 km
    with pytest.raises(ValueError, match="level 17 or below fits"):
        split_polygons(np.array([forest]), 19, max_cells_per_polygon=2_000)
    lifted = split_polygons(np.array([forest]), 19, max_cells_per_polygon=None)
    assert len(lifted.cell) > 2_000
    assert lifted.area.sum() == pytest.approx(polygon_areas([forest])[0], rel=1e-9)
