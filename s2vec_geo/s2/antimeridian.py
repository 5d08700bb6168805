"""Lines and polygons that cross the antimeridian, cut into their parts on each side.

Longitude/latitude data cannot draw a line across the antimeridian: a road
from (10N, 179.999E) to (10N, 179.999W) is stored as a segment whose
longitude jumps from 179.999 to -179.999, and every planar tool (shapely,
the road cutter, areas, bounds, size estimates) reads it as 360 degrees of
road the long way round. Every reader and :func:`s2vec_geo.s2.cover`
therefore pass their geometries through :func:`split_antimeridian` first,
which applies one rule, GDAL's ``WRAPDATELINE`` convention:

- A segment crosses the antimeridian when its longitude jumps by more than
  180 degrees between consecutive vertices: it takes the short way. A
  segment between two vertices both on the antimeridian (longitude exactly
  +-180, e.g. the top edge of ``box(-180, -10, 180, 10)``) runs along it and
  crosses nothing: such geometries are already cut there. Polygon edges
  follow the rule too: ``shapely.box(-179, -17, 179, -16)`` is the 2-degree
  box across the antimeridian; the 358-degree box the long way round needs
  vertices no more than 180 degrees apart
  (``shapely.segmentize(box, 90)``).
- A line or ring with such a segment has its longitudes made continuous
  (each jump shifts the following vertices by +-360 degrees), is cut by the
  360-degree strips centred on longitude 0, 360, -360... (GEOS intersection,
  so the cut points get the latitude interpolated linearly in lng/lat, as
  GDAL does) and each strip's part is shifted back into [-180, 180]. Lines
  become MultiLineStrings, polygons MultiPolygons (a part may end as a
  LineString or Polygon when only one side has length or area); holes
  move with their exterior.
- A polygon ring that crosses an odd number of times goes round a pole: it
  is left as it is (drawn in lng/lat with edges along the pole).
- Points, and geometries that do not cross, come back as the very same
  objects (bit for bit); only geometries spanning more than 180 degrees of
  longitude are looked at vertex by vertex, so the check costs one
  ``shapely.bounds`` call for millions of roads. Geometries with
  longitudes outside [-180, 180] are not lng/lat data (a projected CRS):
  they are left to the caller's checks.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
import shapely.affinity

from s2vec_geo.s2.validation import GeoT

_COLLECTION = 7  # shapely's type id of a GeometryCollection


def split_antimeridian(geometries: np.ndarray) -> np.ndarray:
    """Geometries with every line and polygon crossing the antimeridian cut at it.

    Parameters
    ----------
    geometries
        Shapely geometries (or ``None``) in longitude/latitude degrees.

    Returns
    -------
    numpy.ndarray
        An object array: the input objects, except that those crossing the
        antimeridian are replaced by their parts on each side (see the
        module notes for the rule). The input array itself when nothing
        crosses.

    Examples
    --------
    >>> road = shapely.LineString([(179.999, 10), (-179.999, 10)])
    >>> shapely.normalize(split_antimeridian(np.array([road]))[0]).wkt
    'MULTILINESTRING ((179.999 10, 180 10), (-180 10, -179.999 10))'
    >>> fiji = shapely.Polygon([(179, -17), (-179, -17), (-179, -16), (179, -16)])
    >>> parts = split_antimeridian(np.array([fiji]))[0]
    >>> parts.geom_type, parts.bounds, round(parts.area, 9)
    ('MultiPolygon', (-180.0, -17.0, 180.0, -16.0), 2.0)
    >>> helsinki = shapely.box(24.9, 60.1, 25.0, 60.2)
    >>> split_antimeridian(np.array([helsinki]))[0] is helsinki
    True
    """
    geoms = np.asarray(geometries, dtype=object)
    west, _, east, _ = shapely.bounds(geoms).T  # NaN (never wide) for None and empty
    wide = np.flatnonzero((east - west > 180.0) & (west >= -180.0) & (east <= 180.0))  # few
    if len(wide) == 0:
        return geoms
    out = geoms.copy()
    for i in wide:
        out[i] = _split(geoms[i])
    return out


def split_antimeridian_frame(frame: GeoT) -> GeoT:
    """A GeoSeries or GeoDataFrame (EPSG:4326) with its geometries cut at the antimeridian.

    The frame itself when nothing crosses; else a copy with the geometries
    of :func:`split_antimeridian`.

    Examples
    --------
    >>> road = shapely.LineString([(179.999, 10), (-179.999, 10)])
    >>> frame = gpd.GeoDataFrame({"kind": ["road"]}, geometry=[road], crs=4326)
    >>> split_antimeridian_frame(frame).geom_type.tolist()
    ['MultiLineString']
    >>> split_antimeridian_frame(frame.geometry).total_bounds.tolist()
    [-180.0, 10.0, 180.0, 10.0]
    """
    geoms = np.asarray(frame.geometry.values, dtype=object)
    split = split_antimeridian(geoms)
    if split is geoms:
        return frame
    series = gpd.GeoSeries(split, index=frame.index, crs=frame.crs, name=frame.geometry.name)
    if isinstance(frame, gpd.GeoSeries):
        return series
    out = frame.copy()
    out[frame.geometry.name] = series
    return out


def _split(geom: shapely.Geometry) -> shapely.Geometry:
    """One geometry cut at the antimeridian, or itself when it does not cross."""
    kind = shapely.get_type_id(geom)
    if kind in (1, 2):
        return _split_line(geom)
    if kind == 3:
        return _split_polygon(geom)
    if kind in (5, 6, _COLLECTION):
        parts = shapely.get_parts(geom)
        split = [_split(part) for part in parts]
        if all(new is old for new, old in zip(split, parts, strict=True)):
            return geom
        flat = shapely.get_parts(np.asarray(split, dtype=object))
        if kind == _COLLECTION:
            return shapely.geometrycollections(flat)
        return _collect(flat, polygons=kind == 6)
    return geom  # points cross nothing


def _coords(line: shapely.Geometry) -> np.ndarray:
    """A line's or ring's coordinates, z included when it has one."""
    return shapely.get_coordinates(line, include_z=bool(shapely.has_z(line)))


def _turns(lng: np.ndarray) -> np.ndarray:
    """Per segment: +1 where it crosses the antimeridian eastwards, -1 westwards, else 0."""
    step = np.diff(lng)
    along = (np.abs(lng[:-1]) == 180.0) & (np.abs(lng[1:]) == 180.0)  # runs along it
    east, west = (step < -180.0) & ~along, (step > 180.0) & ~along
    return east.astype(np.int64) - west.astype(np.int64)


def _unwrapped(coords: np.ndarray, turns: np.ndarray) -> np.ndarray:
    """Coordinates with continuous longitudes: each crossing shifts the rest by +-360."""
    shifted = coords.copy()
    shifted[1:, 0] += 360.0 * np.cumsum(turns)
    return shifted


def _split_line(line: shapely.Geometry) -> shapely.Geometry:
    """A line or ring cut at the antimeridian, or itself when it does not cross."""
    coords = _coords(line)
    turns = _turns(coords[:, 0])
    if not turns.any():
        return line
    return _cut_into_strips(shapely.linestrings(_unwrapped(coords, turns)), polygons=False)


def _split_polygon(polygon: shapely.Geometry) -> shapely.Geometry:
    """A polygon cut at the antimeridian; a ring round a pole (odd crossings) is left.

    A polygon with no area (its ring collapsed to a line) gives its lines.
    """
    coords = _coords(polygon.exterior)
    turns = _turns(coords[:, 0])
    if not turns.any() or turns.sum():
        return polygon
    shell = _unwrapped(coords, turns)
    centre = (shell[:, 0].min() + shell[:, 0].max()) / 2.0
    holes = []
    for ring in polygon.interiors:
        hole = _coords(ring)
        hole = _unwrapped(hole, _turns(hole[:, 0]))
        middle = (hole[:, 0].min() + hole[:, 0].max()) / 2.0
        hole[:, 0] -= 360.0 * np.round((middle - centre) / 360.0)  # beside its exterior
        holes.append(hole)
    valid = shapely.make_valid(shapely.Polygon(shell, holes))
    return _cut_into_strips(valid, polygons=bool(shapely.area(valid) > 0.0))


def _cut_into_strips(geom: shapely.Geometry, polygons: bool) -> shapely.Geometry:
    """A geometry with continuous longitudes cut into 360-degree strips, each moved home."""
    west, _, east, _ = geom.bounds
    first, last = (int(np.floor((x + 180.0) / 360.0)) for x in (west, east))
    pieces = []
    for k in range(first, last + 1):
        offset = 360.0 * k
        strip = shapely.box(offset - 180.0, -90.0, offset + 180.0, 90.0)
        inside = shapely.intersection(geom, strip)
        pieces.append(shapely.get_parts(shapely.affinity.translate(inside, xoff=-offset)))
    return _collect(np.concatenate(pieces), polygons)


def _collect(parts: np.ndarray, polygons: bool) -> shapely.Geometry:
    """The lines (or polygons) among ``parts`` as one geometry: single, or a multi-geometry."""
    parts = shapely.get_parts(parts)  # multi-geometries flattened
    keep = shapely.get_type_id(parts) == (3 if polygons else 1)
    parts = parts[keep & ~shapely.is_empty(parts)]
    if len(parts) == 1:
        return parts[0]
    return shapely.multipolygons(parts) if polygons else shapely.multilinestrings(parts)
