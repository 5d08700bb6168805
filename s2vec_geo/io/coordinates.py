"""Coordinates that name a place: finite, and inside the domain of their CRS.

One rule for every reader of geometries (:func:`s2vec_geo.io.layers.read_layer`,
the feature readers of :mod:`s2vec_geo.ingest`, and GeoDataFrames given to
``cells``, ``cover``, ``join`` and ``featurize``):

- A geometry with a NaN or infinite x or y (:func:`non_finite`) is no geometry:
  it is handled as a missing one, so readers skip it and log how many they
  skipped, and functions that need a geometry for every row refuse it.
- Coordinates outside the domain of their CRS (:func:`outside_domain`, checked
  in the same pass when :func:`non_finite` is given the CRS) are refused in
  one line naming the layer, the CRS and the fix: such numbers are no place
  on Earth in that CRS, and reprojecting them would invent one (an EPSG:3857
  point at (1e12, 1e12) lands on the North Pole).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

ROUND_TRIP_TOLERANCE = 1e-6
"""Relative error a coordinate may show after projecting to longitude/latitude and back."""
CHUNK = 65_536
"""Geometries whose coordinates are looked at together (bounds the memory of a check)."""


def _coordinates(geoms: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The ``(x, y)`` coordinates of the geometries and the geometry of each, a chunk at a time."""
    geoms = np.asarray(geoms, dtype=object)
    for start in range(0, len(geoms), CHUNK):
        coords, index = shapely.get_coordinates(geoms[start : start + CHUNK], return_index=True)
        yield coords, index + start


@functools.lru_cache(maxsize=16)
def _projection(crs: CRS) -> tuple[Transformer, Transformer, np.ndarray | None]:
    """Transformers to longitude/latitude and back, and the area of use widened by its size
    on every side (``xmin, ymin, xmax, ymax`` in the CRS; ``None`` when unknown)."""
    to_lnglat = Transformer.from_crs(crs, 4326, always_xy=True)
    from_lnglat = Transformer.from_crs(4326, crs, always_xy=True)
    area = crs.area_of_use
    if area is None:
        return to_lnglat, from_lnglat, None
    x0, y0, x1, y1 = from_lnglat.transform_bounds(*area.bounds)
    width, height = x1 - x0, y1 - y0
    return to_lnglat, from_lnglat, np.array([x0 - width, y0 - height, x1 + width, y1 + height])


def outside_domain(coords: np.ndarray, crs: CRS) -> np.ndarray:
    """Which finite ``(x, y)`` coordinates of ``crs`` are outside its domain.

    Geographic CRSs: latitudes beyond 90 degrees, longitudes beyond 540 (more
    than a turn past the antimeridian, which data crossing it may reach).
    Projected CRSs: coordinates far outside the CRS's area of use (by more
    than its own size) that do not come back when projected to
    longitude/latitude and back, or that project to no longitude/latitude at
    all. Longitudes past the antimeridian near the area of use stay (e.g.
    EPSG:3857 data crossing it).

    Examples
    --------
    >>> mercator = CRS.from_epsg(3857)
    >>> outside_domain(np.array([[2.05e7, 0.0], [1e12, 1e12], [1e12, 0.0]]), mercator).tolist()
    [False, True, True]
    """
    x, y = coords[:, 0], coords[:, 1]
    if crs.is_geographic:
        return (np.abs(y) > 90.0) | (np.abs(x) > 540.0)
    to_lnglat, from_lnglat, box = _projection(crs)
    far = np.ones(len(x), dtype=bool)
    if box is not None:
        far = ~((x >= box[0]) & (y >= box[1]) & (x <= box[2]) & (y <= box[3]))
    bad = np.zeros(len(x), dtype=bool)
    if far.any():
        lng, lat = to_lnglat.transform(x[far], y[far])
        back_x, back_y = from_lnglat.transform(lng, lat)
        scale = ROUND_TRIP_TOLERANCE * np.maximum(np.maximum(np.abs(x[far]), np.abs(y[far])), 1.0)
        near = (np.abs(back_x - x[far]) <= scale) & (np.abs(back_y - y[far]) <= scale)
        bad[far] = ~(np.isfinite(lng) & np.isfinite(lat) & near)
    return bad


def non_finite(geoms: np.ndarray, crs: Any = None, source: str = "the geometries") -> np.ndarray:
    """Which geometries have a NaN or infinite x or y coordinate (missing ones: ``False``).

    With ``crs``, the same pass refuses finite coordinates outside its domain
    (:func:`outside_domain`): a ``ValueError`` naming ``source``, the CRS and the fix.

    Examples
    --------
    >>> import shapely
    >>> points = np.array([shapely.Point(1, 2), shapely.Point(np.inf, 2), None])
    >>> non_finite(points).tolist()
    [False, True, False]
    >>> non_finite(np.array([shapely.Point(2776000.0, 8437000.0)]), 3857, "'a.gpkg'").tolist()
    [False]
    >>> non_finite(np.array([shapely.Point(1e12, 1e12)]), 3857, "'a.gpkg'")
    Traceback (most recent call last):
    ...
    ValueError: 'a.gpkg': 1 coordinate lies outside the area EPSG:3857 (WGS 84 / ...
    """
    crs = None if crs is None else CRS.from_user_input(crs)
    bad = np.zeros(len(geoms), dtype=bool)
    n, example = 0, None
    for coords, index in _coordinates(geoms):
        finite = np.isfinite(coords).all(axis=1)
        bad[index[~finite]] = True
        if crs is None:
            continue
        outside = outside_domain(coords[finite], crs)
        n += int(outside.sum())
        if example is None and outside.any():
            example = coords[finite][np.flatnonzero(outside)[0]]
    if example is not None:
        raise _outside(crs, n, example, source)
    return bad


def _outside(crs: CRS, n: int, example: np.ndarray, source: str) -> ValueError:
    """The one line refusing ``n`` coordinates outside the domain of ``crs``."""
    code = crs.to_string() if crs.to_epsg() is None else f"EPSG:{crs.to_epsg()}"
    return ValueError(
        f"{source}: {n} coordinate{' lies' if n == 1 else 's lie'} outside the area {code} "
        f"({crs.name}) is defined for (e.g. x={example[0]:g}, y={example[1]:g}), so no place "
        f"on Earth has {'it' if n == 1 else 'them'}; set the layer's true CRS (e.g. ogr2ogr "
        "-a_srs EPSG:XXXX, or Set CRS in QGIS) or fix the coordinates"
    )
