"""Cell centres, vertices, edge neighbours, polygons and cell layers.

Reference: s2geometry 0.14. For 3,000 random points (seed 11) plus hard
cases (poles, antimeridian, face edges and corners) at every level 0-30:

* ``cell_to_latlng`` against ``S2CellId.ToLatLng()`` (degrees), and
  ``cell_to_boundary`` against ``S2LatLng(S2Cell.GetVertex(k))``: within 1e-12
  degrees (in practice identical);
* ``cell_edge_neighbors`` against ``S2CellId.GetEdgeNeighbors()``: identical,
  including across cube-face edges.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import s2geometry as s2
import shapely

from s2vec_geo.io.layers import write_layer
from s2vec_geo.s2 import (
    cell_edge_neighbors,
    cell_level,
    cell_to_boundary,
    cell_to_latlng,
    cell_to_polygon,
    cell_to_token,
    cells_frame,
    latlng_to_cell,
)

TOLERANCE_DEG = 1e-12
CORNER_LAT = math.degrees(math.atan(1 / math.sqrt(2)))


@pytest.fixture(scope="module")
def sample_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 3000)))
    lng = rng.uniform(-180, 180, 3000)
    hard = [(90, 0), (-90, 0), (89.9999, 179.9), (0, 180), (0, -180), (10, 179.99999)]
    hard += [(s * CORNER_LAT, lng) for s in (1, -1) for lng in (-135, -45, 45, 135)]
    hard += [(30, 45), (30, 44.9999999), (-60, -135.0000001), (45, 0), (-45, 90)]
    hard_lat, hard_lng = np.array(hard, dtype=float).T
    return np.concatenate([hard_lat, lat]), np.concatenate([hard_lng, lng])


def s2_cells(cells: np.ndarray) -> list:
    return [s2.S2CellId(c) for c in cells.view(np.uint64).tolist()]


@pytest.mark.parametrize("level", range(31))
def test_centres_and_vertices_match_s2geometry(sample_points, level):
    cells = latlng_to_cell(*sample_points, level)
    reference = s2_cells(cells)
    lat, lng = cell_to_latlng(cells)
    ref_centre = np.array(
        [(c.ToLatLng().lat().degrees(), c.ToLatLng().lng().degrees()) for c in reference]
    )
    assert np.abs(lat - ref_centre[:, 0]).max() <= TOLERANCE_DEG
    assert np.abs(lng - ref_centre[:, 1]).max() <= TOLERANCE_DEG
    boundary = cell_to_boundary(cells)
    ref_vertices = np.array(
        [
            [
                (s2.S2LatLng(v).lat().degrees(), s2.S2LatLng(v).lng().degrees())
                for v in (s2.S2Cell(c).GetVertex(k) for k in range(4))
            ]
            for c in reference
        ]
    )
    assert boundary.shape == (len(cells), 4, 2)
    assert np.abs(boundary - ref_vertices).max() <= TOLERANCE_DEG


@pytest.mark.parametrize("level", range(31))
def test_edge_neighbours_match_s2geometry(sample_points, level):
    cells = latlng_to_cell(*sample_points, level)
    expected = np.array(
        [[n.id() for n in c.GetEdgeNeighbors()] for c in s2_cells(cells)], dtype=np.uint64
    ).view(np.int64)
    ours = cell_edge_neighbors(cells)
    assert (ours == expected).all()
    assert (cell_level(ours.ravel()) == level).all()


def test_neighbours_cross_face_edges():
    # A level-10 cell at the corner of face 0 (lng 45 edge): neighbours on faces 0, 1 and 2.
    cell = latlng_to_cell(CORNER_LAT - 1e-9, 45 - 1e-9, 10)
    faces = {int(f) for f in cell_edge_neighbors(cell).view(np.uint64) >> np.uint64(61)}
    assert faces == {0, 1, 2}


def test_polygons_contain_their_centre_and_are_counter_clockwise(sample_points):
    for level in (3, 9, 12, 18, 25, 30):
        cells = latlng_to_cell(*sample_points, level)[40:]  # without the hard cases
        lat, lng = cell_to_latlng(cells)
        polygons = cell_to_polygon(cells)
        assert shapely.is_valid(polygons).all()
        assert shapely.is_ccw(shapely.get_exterior_ring(polygons)).all()
        # Antimeridian cells are unwrapped eastwards: their centre may sit at lng + 360.
        inside = shapely.contains_xy(polygons, lng, lat) | shapely.contains_xy(
            polygons, lng + 360, lat
        )
        assert inside.all()


def test_polygon_vertices_are_lng_lat_in_s2_order():
    cell = latlng_to_cell(60.1699, 24.9384, 12)
    ring = shapely.get_coordinates(cell_to_polygon(cell))
    assert np.allclose(ring[:4, ::-1], cell_to_boundary(cell), atol=0)
    assert (ring[0] == ring[-1]).all()


@pytest.mark.parametrize(
    ("lng", "west", "east"), [(179.9999, 179.0, 180.0), (-179.9999, -180.0, -179.0)]
)
def test_cells_beside_the_antimeridian_stay_on_their_side(lng, west, east):
    for lat in (-60.0, 10.0, 60.0):  # faces 5, 3 and 2
        cell = latlng_to_cell(lat, lng, 8)
        polygon = cell_to_polygon(cell)
        assert west <= polygon.bounds[0] and polygon.bounds[2] <= east
        assert polygon.contains(shapely.Point(lng, lat))


def test_level_zero_face_across_the_antimeridian_is_unwrapped():
    polygon = cell_to_polygon(latlng_to_cell(0.0, 180.0, 0))
    assert polygon.bounds[0] == pytest.approx(135.0) and polygon.bounds[2] == pytest.approx(225.0)
    assert polygon.contains(shapely.Point(180.0, 0.0))


@pytest.mark.parametrize("pole", [90.0, -90.0])
def test_cells_touching_a_pole_cover_their_longitudes(pole):
    # Four level-6 cells share the pole as a vertex; each spans 90 degrees of longitude.
    near = math.copysign(89.9, pole)
    lngs = np.array([-135.0, -45.0, 45.0, 135.0])
    cells = latlng_to_cell(np.full(4, near), lngs, 6)
    assert len(set(cells.tolist())) == 4
    polygons = cell_to_polygon(cells)
    assert shapely.is_valid(polygons).all()
    assert shapely.contains_xy(polygons, lngs, near).all()
    for polygon in polygons:
        west, _, east, _ = polygon.bounds
        assert 89.0 < east - west < 91.0


@pytest.mark.parametrize(("face", "lat"), [(2, 80.0), (5, -80.0)])
def test_polar_faces_at_level_zero_cover_the_cap(face, lat):
    cell = latlng_to_cell(lat, 10.0, 0)
    assert int(cell.view(np.uint64) >> np.uint64(61)) == face
    polygon = cell_to_polygon(cell)
    assert polygon.is_valid
    assert shapely.contains_xy(polygon, np.arange(-170.0, 180.0, 20.0), lat).all()
    assert not polygon.contains(shapely.Point(0, 0))


def test_cells_frame_is_the_cell_layer(tmp_path):
    cells = latlng_to_cell([60.17, 60.18, 60.17], [24.94, 24.95, 24.94], 14)
    frame = cells_frame(cells)
    assert frame.index.name == "cell_id" and frame.index.dtype == np.int64
    assert frame.crs.to_epsg() == 4326
    assert list(frame.index) == list(cells)  # order and duplicates kept
    assert list(frame["token"]) == list(cell_to_token(cells))
    assert frame.geometry.geom_equals(
        gpd.GeoSeries(cell_to_polygon(cells), index=frame.index, crs=4326)
    ).all()
    written = gpd.read_file(write_layer(frame, tmp_path / "cells.gpkg"))
    assert written["cell_id"].dtype == np.int64
    assert (written["cell_id"].to_numpy() == cells).all()


def test_geometry_functions_reject_invalid_ids():
    for function in (
        cell_to_latlng,
        cell_to_boundary,
        cell_to_polygon,
        cell_edge_neighbors,
        cells_frame,
    ):
        with pytest.raises(ValueError, match="not valid S2 cell ids"):
            function([0])
