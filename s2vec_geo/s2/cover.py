"""Coverings: the cells of one level that a geometry touches.

Polygons are covered exactly by s2geometry's ``S2RegionCoverer`` at a fixed
level: a cell is in the covering iff it intersects the polygon. Polygon edges
are geodesics (great-circle arcs), as in S2 and BigQuery, except that an
axis-aligned lng/lat rectangle (e.g. ``shapely.box``) is covered as the
latitude/longitude rectangle it means (an ``S2LatLngRect``). Points give the
cell that contains them, lines the cells they pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from s2vec_geo.core.geodesy import avg_cell_area, avg_cell_edge
from s2vec_geo.core.guards import check_cells
from s2vec_geo.core.progress import progress
from s2vec_geo.io.coordinates import non_finite
from s2vec_geo.s2.antimeridian import split_antimeridian
from s2vec_geo.s2.geometry import cell_to_polygon
from s2vec_geo.s2.ids import latlng_to_cell
from s2vec_geo.s2.validation import to_lnglat, validate_level

_MAX_CELLS = 2**31 - 1  # never let the coverer trade precision for fewer cells
_POLYGONAL = ("Polygon", "MultiPolygon")
_LINEAR = ("LineString", "MultiLineString", "LinearRing")
_POINTS = ("Point", "MultiPoint")
_SCALE_LEVEL = 10  # cells whose area gives the local cell size of a geometry
_SCALE_RANGE = (0.3, 3.0)  # local cell area over the mean, clipped to this range


COVER_CELL_BYTES = 128
"""Memory of a covered cell: its id and the coverer's working memory (the continental-US
box at level 12, 3.1 M cells, peaks at 365 MB)."""


def _geometries(geometry: Any) -> np.ndarray:
    """Return the input as an array of shapely geometries in lng/lat degrees."""
    if isinstance(geometry, gpd.GeoDataFrame):
        geometry = geometry.geometry
    if isinstance(geometry, gpd.GeoSeries):
        return np.asarray(to_lnglat(geometry).values, dtype=object)
    if isinstance(geometry, shapely.Geometry):
        return np.array([geometry], dtype=object)
    if isinstance(geometry, (list, tuple, np.ndarray)):
        geoms = np.asarray(geometry, dtype=object)  # shapely geometries are no sequences
        if geoms.ndim == 1 and shapely.is_geometry(geoms).all():  # no Python loop over millions
            return geoms
    raise ValueError(
        f"cover needs a shapely geometry, a GeoSeries or a GeoDataFrame, "
        f"got {type(geometry).__name__}; build one with shapely or geopandas.read_file"
    )


def _covering_ids(region: Any, level: int) -> np.ndarray:
    """Fixed-level covering of an s2geometry region as int64 ids.

    Equal to ``S2RegionCoverer`` with ``min_level = max_level = level``, but
    much faster for large areas: the coverer is run with ``min_level = 0``,
    so cells wholly inside the region stay coarse (it subdivides exactly the
    cells that are not contained, down to ``level``, with the same
    intersection test), and the few coarse cells are expanded to their
    level-``level`` descendants with integer arithmetic. The continental-US
    box at level 12 (3 M cells) takes 0.15 s instead of 5-11 s, most of which
    the fixed-level coverer spends creating one Python object per cell.
    """
    import s2geometry as s2

    coverer = s2.S2RegionCoverer()
    coverer.set_min_level(0)
    coverer.set_max_level(level)
    coverer.set_max_cells(_MAX_CELLS)
    cells = coverer.GetCovering(region)
    ids = np.fromiter((c.id() for c in cells), dtype=np.uint64, count=len(cells))
    return descendants(ids, level).view(np.int64)


def descendants(ids: np.ndarray, level: int) -> np.ndarray:
    """All level-``level`` descendants of uint64 cell ids at ``level`` or coarser.

    The descendants of a cell with lowest set bit ``lsb`` are the ids
    ``id - lsb + lsb_l + k * 2 * lsb_l`` for ``k < lsb / lsb_l``, where
    ``lsb_l`` is the lowest set bit at ``level``: one contiguous, evenly
    spaced run along the Hilbert curve per cell.

    Examples
    --------
    >>> from s2vec_geo.s2 import cell_parent, latlng_to_cell
    >>> parent = cell_parent(latlng_to_cell(60.17, 24.94, 12), 10).view(np.uint64)
    >>> descendants(parent, 12).size
    16
    """
    one = np.uint64(1)
    lsb = ids & (~ids + one)
    lsb_level = one << np.uint64(2 * (30 - level))
    counts = (lsb // lsb_level).astype(np.int64)
    firsts = np.repeat(ids - lsb + lsb_level, counts)
    offsets = np.arange(counts.sum(), dtype=np.uint64) - np.repeat(
        (np.cumsum(counts) - counts).astype(np.uint64), counts
    )
    return firsts + offsets * (np.uint64(2) * lsb_level)


def _s2_points(coords: np.ndarray) -> list:
    import s2geometry as s2

    return [s2.S2LatLng.FromDegrees(lat, lng).ToPoint() for lng, lat in coords]


def _ring_loop(ring: shapely.LinearRing) -> Any:
    """An S2Loop from a shapely ring, oriented to enclose the smaller region."""
    import s2geometry as s2

    coords = shapely.get_coordinates(ring)[:-1]  # S2 loops are implicitly closed
    keep = np.ones(len(coords), dtype=bool)
    keep[1:] = (coords[1:] != coords[:-1]).any(axis=1)
    loop = s2.S2Loop(_s2_points(coords[keep]))
    if not loop.IsValid():
        raise ValueError(
            "a polygon ring is not a valid S2 loop (fewer than 3 distinct vertices, "
            "self-crossing or antipodal vertices); repair it with shapely.make_valid"
        )
    loop.Normalize()
    return loop


def _is_lnglat_box(polygon: shapely.Polygon) -> bool:
    return not polygon.interiors and polygon.equals(shapely.box(*polygon.bounds))


def _cover_polygon(polygon: shapely.Polygon, level: int) -> np.ndarray:
    import s2geometry as s2

    if _is_lnglat_box(polygon):
        west, south, east, north = polygon.bounds
        rect = s2.S2LatLngRect(
            s2.S2LatLng.FromDegrees(south, west), s2.S2LatLng.FromDegrees(north, east)
        )
        return _covering_ids(rect, level)
    loops = [_ring_loop(polygon.exterior)] + [_ring_loop(r) for r in polygon.interiors]
    s2_polygon = s2.S2Polygon()
    s2_polygon.InitNested(loops)
    if not s2_polygon.IsValid():
        raise ValueError(
            "the polygon is not valid on the sphere (rings cross or share edges); "
            "repair it with shapely.make_valid"
        )
    return _covering_ids(s2_polygon, level)


def _cover_line(line: shapely.LineString, level: int) -> np.ndarray:
    import s2geometry as s2

    coords = shapely.get_coordinates(line)
    keep = np.ones(len(coords), dtype=bool)
    keep[1:] = (coords[1:] != coords[:-1]).any(axis=1)
    if keep.sum() < 2:
        return latlng_to_cell(coords[0, 1], coords[0, 0], level)
    polyline = s2.S2Polyline()
    polyline.InitFromS2Points(_s2_points(coords[keep]))
    if not polyline.IsValid():
        raise ValueError(
            "a line has antipodal consecutive vertices, so its path is undefined; "
            "add a vertex between them"
        )
    return _covering_ids(polyline, level)


def _check_geometry(geom: Any) -> None:
    if geom is None or not isinstance(geom, shapely.Geometry):
        raise ValueError(
            f"cannot cover {geom!r}: not a geometry; drop rows with missing geometry first "
            "(gdf[gdf.geometry.notna()])"
        )
    if geom.is_empty:
        raise ValueError(
            "cannot cover an empty geometry; drop empty rows first (gdf[~gdf.is_empty])"
        )
    x, y = shapely.get_coordinates(geom).T
    if not ((np.abs(x) <= 180.0).all() and (np.abs(y) <= 90.0).all()):
        raise ValueError(
            "geometry coordinates are outside longitude [-180, 180] / latitude [-90, 90]: "
            "it is probably in a projected CRS; pass a GeoSeries/GeoDataFrame with its CRS "
            "so it is reprojected to EPSG:4326"
        )
    if geom.geom_type in _POLYGONAL and not geom.is_valid:
        raise ValueError(
            f"invalid polygon ({shapely.is_valid_reason(geom)}); repair it first, "
            "e.g. with shapely.make_valid(geom) or gdf.make_valid()"
        )


def _cover_one(geom: shapely.Geometry, level: int) -> Iterable[np.ndarray]:
    """Yield id arrays whose union covers one (checked) geometry."""
    kind = geom.geom_type
    if kind in _POINTS:
        coords = shapely.get_coordinates(geom)
        yield latlng_to_cell(coords[:, 1], coords[:, 0], level)
    elif kind in _LINEAR:
        for part in shapely.get_parts(geom):
            yield _cover_line(part, level)
    elif kind in _POLYGONAL:
        for part in shapely.get_parts(geom):
            yield _cover_polygon(part, level)
    elif kind == "GeometryCollection":
        for part in shapely.get_parts(geom):
            yield from _cover_one(part, level)
    else:  # pragma: no cover - shapely has no other geometry types
        raise ValueError(f"cannot cover a {kind}; pass points, lines or polygons")


def sorted_unique(cells: np.ndarray) -> np.ndarray:
    """Sort int64 ids and drop duplicates (faster than ``np.unique`` on millions).

    Ids already sorted (e.g. the cells of one sorted group-by) are not sorted again.

    Examples
    --------
    >>> sorted_unique(np.array([5, 3, 5, 1])).tolist()
    [1, 3, 5]
    """
    if cells.size == 0:
        return np.sort(cells)
    ordered = cells if (cells[1:] >= cells[:-1]).all() else np.sort(cells)  # sorted: no copy
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def cover(
    geometry: Any,
    level: int,
    *,
    max_cells: int | None = None,
    memory_budget: int | str | None = None,
    cell_bytes: float = COVER_CELL_BYTES,
) -> np.ndarray:
    """Return the sorted, unique level-``level`` cells covering a geometry.

    Parameters
    ----------
    geometry
        A shapely geometry in longitude/latitude degrees, a list of them, or a
        GeoSeries/GeoDataFrame in any CRS (reprojected to EPSG:4326; a missing
        CRS is an error). The result is the union over all geometries.

        * Polygons and multipolygons, holes included: every cell that
          intersects the polygon (exact, via s2geometry's ``S2RegionCoverer``;
          edges are geodesics, and an axis-aligned box is covered as a
          lat/lng rectangle). Polygons must be valid (see
          ``shapely.make_valid``); rings must each be smaller than a hemisphere.
        * Points: the cell containing each point.
        * Lines: every cell the line passes through (geodesic segments).
        * Lines and polygons crossing the antimeridian (a longitude jump of
          over 180 degrees between vertices) are first cut there into their
          parts on each side (:func:`~s2vec_geo.s2.antimeridian.split_antimeridian`).
        * Geometry collections: the union of their parts.
    level
        S2 level 0-30.
    max_cells
        Refuse, before covering, geometries estimated to need more cells
        (:func:`estimate_cells`); default
        :data:`~s2vec_geo.core.guards.DEFAULT_MAX_CELLS`.
    memory_budget
        Refuse, before covering, geometries whose cells would take more
        memory (:data:`COVER_CELL_BYTES` a cell; a cell layer of them is held
        against the budget again, at about 1 KB a cell, by
        :func:`~s2vec_geo.s2.frame.cells_frame`), e.g. ``"8GB"``; default: the
        budget in force (:func:`~s2vec_geo.core.guards.budget_in_force`, 2 GiB).
    cell_bytes
        Memory a covered cell will take: callers that make a cell layer of the
        cells pass :data:`~s2vec_geo.core.guards.LAYER_CELL_BYTES`, so that an
        area too large as a layer is refused before it is covered.

    Returns
    -------
    numpy.ndarray
        Sorted unique int64 cell ids.

    Raises
    ------
    ValueError
        For empty, missing, invalid or non-geometry input and a missing CRS;
        :class:`~s2vec_geo.core.guards.TooManyCellsError` above ``max_cells`` or the
        memory budget.

    Examples
    --------
    >>> import shapely
    >>> cells = cover(shapely.box(24.90, 60.15, 24.98, 60.19), 12)
    >>> len(cells), bool((cells[1:] > cells[:-1]).all())
    (10, True)
    """
    level = validate_level(level)
    geoms = _geometries(geometry)
    if geoms.size == 0:
        raise ValueError("nothing to cover: no geometries given; pass at least one geometry")
    if (not_finite := non_finite(geoms)).any():  # a GeoSeries's are missing ones already
        raise ValueError(
            f"{int(not_finite.sum())} of {len(geoms)} geometries have NaN or infinite "
            f"coordinates (e.g. the one at position {int(np.argmax(not_finite))}); drop them "
            "first (layers read from files skip them)"
        )
    for geom in geoms:
        _check_geometry(geom)
    geoms = split_antimeridian(geoms)  # a line across it: a few cells, not the long way round
    check_cells(
        estimate_cells(geoms, level),
        f"covering the geometries at level {level}",
        bytes_per_cell=cell_bytes,
        max_cells=max_cells,
        level=level,
        memory_budget=memory_budget,
    )
    parts = [
        ids
        for geom in progress(geoms, total=len(geoms), desc="covering", disable=len(geoms) < 2)
        for ids in _cover_one(geom, level)
    ]
    return sorted_unique(np.concatenate(parts))


def _local_cell_scale(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Area of the cells at these points relative to the mean (S2 cells vary about 2x)."""
    at = latlng_to_cell(lat, lng, _SCALE_LEVEL)
    cells = sorted_unique(at)  # a few per region: millions of roads need few polygons
    polygons = cell_to_polygon(cells)
    mid = np.radians(shapely.get_y(shapely.centroid(polygons)))
    area = shapely.area(polygons) * np.radians(1.0) ** 2 * np.cos(mid)
    scale = np.clip(area / avg_cell_area(_SCALE_LEVEL), *_SCALE_RANGE)
    return scale[np.searchsorted(cells, at)]


def estimate_cells(geometry: Any, level: int, below: float | None = None) -> float:
    """About how many level-``level`` cells cover the geometries, without covering them.

    Polygons count their area over the cell area plus half the cells their
    boundary crosses; lines the cells they cross (length over the cell edge
    times 4/pi, the mean for a random direction); points one cell each. Areas
    and lengths come from the lng/lat coordinates scaled by the cosine of each
    geometry's latitude, and cells are sized where each geometry lies (S2
    cells vary about 2x in area): a few per cent off for a country, fast for
    millions of geometries, never allocating per cell. Overlaps are counted
    twice, so the estimate errs high.

    With ``below`` (a guard's limit), when even the largest estimate the
    local cell sizes allow (the smallest cells everywhere) is at most
    ``below``, that bound is returned without sizing cells: a third of the
    time for millions of roads.

    Examples
    --------
    >>> import shapely
    >>> box = shapely.box(24.90, 60.15, 24.98, 60.19)  # central Helsinki
    >>> exact = len(cover(box, 16))
    >>> 0.8 < estimate_cells(box, 16) / exact < 1.25
    True
    >>> f"{estimate_cells(shapely.box(-18, -35, 52, 38), 20):.1e}"  # Africa's box
    '7.6e+11'
    >>> bool(estimate_cells(box, 16) <= estimate_cells(box, 16, below=1e9) <= 1e9)
    True
    """
    terms = _estimate_terms(geometry, level)
    if terms is None:
        return 0.0
    if below is not None and (bound := float(terms(_SCALE_RANGE[0]).sum())) <= below:
        return bound
    return float(terms(None).sum())


def estimate_cells_each(geometry: Any, level: int) -> np.ndarray:
    """:func:`estimate_cells` of each geometry on its own: the cells each one touches.

    Examples
    --------
    >>> import shapely
    >>> box = shapely.box(24.90, 60.10, 24.93, 60.115)  # 7,939 cells at level 19
    >>> estimate_cells_each([shapely.Point(24.9, 60.2), box], 19).round(-1).tolist()
    [0.0, 7950.0]
    """
    terms = _estimate_terms(geometry, level)
    return np.zeros(0) if terms is None else terms(None)


def _estimate_terms(geometry: Any, level: int) -> Callable[[Any], np.ndarray] | None:
    """Per-geometry cell estimates for a cell scale (``None``: sized where each one lies)."""
    geoms = _geometries(geometry)
    level = validate_level(level)
    if geoms.size == 0:
        return None
    west, south, east, north = shapely.bounds(geoms).T  # no per-geometry objects
    lat, lng = (south + north) / 2.0, (west + east) / 2.0
    cos_lat = np.cos(np.radians(lat))
    kind = shapely.get_type_id(geoms)
    points = np.isin(kind, (0, 4))
    polygonal = np.isin(kind, (3, 6, 7))
    # shapely measures in degrees: one degree of latitude, cos(lat) of longitude;
    # both in cells of the mean size, to be divided by the local scale (and its root)
    area = np.zeros(len(geoms))  # measured for polygons only: millions of roads have none
    area[polygonal] = shapely.area(geoms[polygonal]) * np.radians(1.0) ** 2 * cos_lat[polygonal]
    area /= avg_cell_area(level)
    crossed = (
        shapely.length(geoms)
        * np.radians(1.0)
        * (1.0 + cos_lat)
        / 2.0
        / avg_cell_edge(level)
        * (4.0 / np.pi)
    )
    n_points = np.zeros(len(geoms), np.int64)
    n_points[points] = shapely.get_num_coordinates(geoms[points])

    def each(scale: Any) -> np.ndarray:
        scale = _local_cell_scale(lat, lng) if scale is None else scale
        root = np.sqrt(scale)
        spread = np.where(polygonal, area / scale + crossed / root / 2.0, crossed / root)
        return np.where(points, n_points, spread + 1.0)

    return each
