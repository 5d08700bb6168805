"""Cell geometry: centres, vertices and shapely polygons in EPSG:4326."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import shapely

from s2vec_geo.core.gcpause import gc_paused
from s2vec_geo.s2.validation import as_cells, scalars_in_out

_POLE_TOLERANCE = 1e-9  # degrees; far below a level-30 cell (~1e-7 degrees)


@scalars_in_out("cells")
def cell_to_latlng(cells: Any) -> tuple[Any, Any]:
    """Return the centre (lat, lng) in degrees of each cell (two floats for one cell).

    Identical to s2geometry's ``S2CellId.ToLatLng()`` (the centre in the
    cell's (s, t) coordinates, projected to the sphere).

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> lat, lng = cell_to_latlng(latlng_to_cell(60.1699, 24.9384, 30))
    >>> print(round(lat, 4), round(lng, 4))
    60.1699 24.9384
    >>> cell_to_latlng(latlng_to_cell([0.0, 10.0], [0.0, 10.0], 20))[0].shape
    (2,)
    """
    from s2vec_geo.s2 import kernels

    array = as_cells(cells)
    lat = np.empty(array.shape[0], dtype=np.float64)
    lng = np.empty_like(lat)
    kernels.cells_to_latlng(array, lat, lng)
    return lat, lng


@scalars_in_out("cells")
def cell_to_boundary(cells: Any) -> np.ndarray:
    """Return the 4 vertices of each cell as an ``(n, 4, 2)`` array of (lat, lng).

    One cell (a scalar id) gives its ``(4, 2)`` vertices.

    Vertices are in S2 order (counter-clockwise seen from outside the sphere),
    identical to s2geometry's ``S2Cell.GetVertex(k)`` converted to lat/lng.

    Examples
    --------
    >>> from s2vec_geo.s2 import token_to_cell
    >>> cell_to_boundary(token_to_cell("89c25a3")).shape
    (4, 2)
    >>> cell_to_boundary(token_to_cell(["89c25a3"])).shape
    (1, 4, 2)
    """
    from s2vec_geo.s2 import kernels

    array = as_cells(cells)
    out = np.empty((array.shape[0], 4, 2), dtype=np.float64)
    kernels.cells_to_boundary(array, out)
    return out


def row_range(values: np.ndarray) -> np.ndarray:
    """Max minus min of each row of a few columns, e.g. the longitudes of cell corners.

    Elementwise over the columns: ten times faster than ``np.ptp(values,
    axis=1)`` on rows of 4.

    Examples
    --------
    >>> row_range(np.array([[1.0, 5.0, 2.0, 3.0], [0.0, 0.0, 1.0, -1.0]])).tolist()
    [4.0, 2.0]
    """
    columns = np.moveaxis(values, -1, 0)
    return functools.reduce(np.maximum, columns) - functools.reduce(np.minimum, columns)


def _unwrap(lng: np.ndarray) -> np.ndarray:
    """Longitudes of rows of vertices made continuous (rows spanning over 180 degrees).

    The antimeridian runs along cell edges at every level above 0, and S2 puts
    vertices on it at +180: in a row whose other vertices are west of it,
    +180 becomes -180. Rows that still span more than 180 degrees (level-0
    faces) are unwrapped eastwards.
    """
    lng = lng.copy()
    rows = row_range(lng) > 180.0
    if np.any(rows):  # few rows: the cells on the antimeridian
        wrapped = lng[rows]
        wrapped[wrapped == 180.0] = -180.0
        still = row_range(wrapped) > 180.0
        wrapped[still] = np.where(wrapped[still] < 0.0, wrapped[still] + 360.0, wrapped[still])
        lng[rows] = wrapped
    return lng


def _polar_face_ring(face: int, lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Lng/lat ring of a level-0 face that contains a pole (face 2 north, 5 south).

    The face's edges cross longitudes -180, -90, 0, 90 and 180 at their
    midpoints (latitude +-45); the ring follows vertices and midpoints in
    longitude order and closes along the pole.
    """
    sign = 1.0 if face == 2 else -1.0
    mid_lng = np.array([-180.0, -90.0, 0.0, 90.0, 180.0])
    ring = np.concatenate(
        [np.column_stack([lng, lat]), np.column_stack([mid_lng, np.full(5, sign * 45.0)])]
    )
    ring = ring[np.argsort(ring[:, 0], kind="stable")]
    return np.vstack([ring, [[180.0, sign * 90.0], [-180.0, sign * 90.0]]])


def _pole_vertex_ring(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Lng/lat ring of a cell with a pole as vertex: the pole becomes a segment.

    The pole's longitude is undefined; the cell's edges into the pole are
    meridians, so the pole vertex is replaced by the pole at the longitudes
    of its two neighbouring vertices.
    """
    k = int(np.argmax(np.abs(lat)))  # the pole vertex
    others = [(k + step) % 4 for step in (1, 2, 3)]
    lng = lng.copy()
    lng[others] = _unwrap(lng[others])
    pole = lat[k]
    nxt, prev = others[0], others[2]
    points = [(lng[prev], pole), (lng[nxt], pole)] + [(lng[o], lat[o]) for o in others]
    return np.array(points)


@scalars_in_out("cells")
def cell_to_polygon(cells: Any) -> np.ndarray | shapely.Polygon:
    """Return each cell as a shapely Polygon in lng/lat (x = lng, y = lat, EPSG:4326).

    An array of polygons for an array of cells; one polygon for one cell.

    Cells never span the whole map: the antimeridian runs along cell edges,
    and a cell east of it gets -180 (not S2's +180) for its vertices there;
    the level-0 faces that cross it are unwrapped eastwards (longitudes up to
    225). A pole vertex becomes a segment along the pole so the polygon covers
    the right longitudes, and the two level-0 faces containing a pole are
    closed along the pole.

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> poly = cell_to_polygon(latlng_to_cell(60.1699, 24.9384, 12))
    >>> poly.contains(shapely.Point(24.9384, 60.1699))
    True
    """
    array = as_cells(cells)
    boundary = cell_to_boundary(array)
    ring = np.empty((len(array), 5, 2))
    _fill_corners(boundary, ring)
    ring[:, 4] = ring[:, 0]  # closed rings
    offsets = (np.arange(0, 5 * len(array) + 1, 5), np.arange(len(array) + 1))
    lat = boundary[:, :, 0]
    pole_vertex = np.flatnonzero(np.abs(lat.ravel()) > 90.0 - _POLE_TOLERANCE)  # a few cells
    rows, n_poles = np.unique(pole_vertex // 4, return_counts=True)
    polar_faces = np.flatnonzero((array & ((np.int64(1) << 61) - 1)) == (np.int64(1) << 60))
    with gc_paused():
        polygons = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON, ring.reshape(-1, 2), offsets
        )
        for n in rows[n_poles == 1]:
            polygons[n] = shapely.Polygon(_pole_vertex_ring(lat[n], boundary[n, :, 1]))
        for n in polar_faces:
            face = int(array[n].view(np.uint64) >> np.uint64(61))
            if face in (2, 5):
                polygons[n] = shapely.Polygon(
                    _polar_face_ring(face, boundary[n, :, 0], boundary[n, :, 1])
                )
    return polygons


def _fill_corners(boundary: np.ndarray, out: np.ndarray) -> None:
    """Write :func:`cell_to_boundary`'s lat/lng into ``out[:, :4]`` as lng/lat, unwrapped."""
    out[:, :4, 0] = boundary[:, :, 1]
    out[:, :4, 1] = boundary[:, :, 0]
    lng = out[:, :4, 0]
    wraps = np.flatnonzero(row_range(lng) > 180.0)  # the cells on the antimeridian: few
    lng[wraps] = _unwrap(lng[wraps])


def cell_to_corners(cells: Any) -> np.ndarray:
    """Return the 4 corners of each cell as an ``(n, 4, 2)`` array of (lng, lat).

    The corners of :func:`cell_to_polygon`'s rings, counter-clockwise:
    longitudes continuous across the antimeridian. The polygon differs only
    where a corner is a pole (it becomes a segment along the pole) and for
    the level-0 faces that contain a pole.

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> cell = latlng_to_cell(60.1699, 24.9384, 12)
    >>> corners = cell_to_corners([cell])
    >>> ring = shapely.get_coordinates(cell_to_polygon(cell))
    >>> corners.shape, bool((corners[0] == ring[:4]).all())
    ((1, 4, 2), True)
    """
    boundary = cell_to_boundary(cells)
    corners = np.empty_like(boundary)
    _fill_corners(boundary, corners)
    return corners
