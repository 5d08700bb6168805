"""Polygon areas per S2 cell: every polygon cut exactly at the cell edges.

A polygon gives each cell the area of its part there, so the parts of a
polygon sum to its area (to rounding). Areas are square metres in the
equal-area projection EPSG:6933 (see :mod:`s2vec_geo.features.equal_area`); cells are
the polygons of their four S2 vertices with straight edges in that plane
(within about a metre of S2's geodesic edges at level 12, millimetres at
level 16).

- **One cell** (the cheap path): every vertex lies in the same cell. S2
  cells are convex, so the polygon does too and its whole area goes there,
  with no clipping: most buildings at city levels.
- **Crossing polygons**: the cells their ring edges pass through are found
  as for roads (:func:`s2vec_geo.features.segments.segment_cells`) and each polygon
  is clipped by each of them, all pairs at once
  (:func:`s2vec_geo.features.convex_clip.quad_clip_areas`). A polygon wide enough to
  hold whole cells (bounding-box diagonal at least 90 % of the level's
  shortest cell edge) also gets the cells its edges do not touch: the cells
  of a grid of points over its bounding box (spaced half the shortest cell
  edge, so every cell inside holds one) whose centre lies inside it; those
  cells count their own area.

The cell of a crossing polygon's first vertex gets the polygon's area minus
its other parts: the parts sum to the area exactly, and a sliver that S2's
geodesic edges and the straight edges disagree about stays in the polygon,
as do rounding slivers (parts under :data:`SLIVER` of the polygon, where an
edge runs along a cell edge).
Work is done in batches of bounded size, so memory does not grow with a
polygon's size beyond its own cells. Polygons crossing the antimeridian are
expected cut there, as every reader cuts them (:mod:`s2vec_geo.s2.antimeridian`).

**Size guard**: before anything is allocated per cell, each polygon's cells
are estimated from its area and boundary (:func:`s2vec_geo.s2.cover.estimate_cells_each`);
one over ``max_cells_per_polygon`` stops the work with one line naming the
estimate and the fix (a coarser level or a smaller area).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely

from s2vec_geo.core.geodesy import EARTH_RADIUS_M, haversine_m, min_edge_m, shoelace_areas
from s2vec_geo.core.options import MAX_CELLS_PER_POLYGON
from s2vec_geo.features.convex_clip import convex_ccw, quad_clip_areas
from s2vec_geo.features.equal_area import (
    Rings,
    polygon_rings,
    project,
    rings_area,
    to_equal_area,
)
from s2vec_geo.features.segments import (
    coordinate_segments,
    segment_cells,
    unique_pairs,
)
from s2vec_geo.s2 import cell_to_boundary, cell_to_latlng, cell_to_polygon, latlng_to_cell
from s2vec_geo.s2.cover import estimate_cells_each, sorted_unique

DEFAULT_MAX_CELLS_PER_POLYGON: int = MAX_CELLS_PER_POLYGON.default
"""Default limit of the cells one polygon may cover (estimated from its area and boundary)."""
SMALL_SHARE = 0.9
"""A polygon whose bounding-box diagonal is under this share of the shortest cell edge
cannot hold a whole cell."""
BATCH = 1 << 20
"""Grid points, or clipped ring vertices, handled at once."""
SLIVER = 1e-9
"""Clipped parts under this share of their polygon are rounding (an edge along a cell
edge): they stay in the rest."""


@dataclass(frozen=True)
class PolygonParts:
    """The parts of polygons in cells: one row per (polygon, cell) with area.

    Attributes
    ----------
    owner
        Index of the input polygon.
    cell
        Int64 S2 cell id.
    area
        Square metres (EPSG:6933) of the polygon inside the cell, > 0.
    """

    owner: np.ndarray
    cell: np.ndarray
    area: np.ndarray

    def largest(self) -> np.ndarray:
        """Row of every polygon's largest part (ties: the first), sorted.

        Examples
        --------
        >>> parts = PolygonParts(np.array([0, 0, 1]), np.array([5, 6, 5]), np.array([1., 2., 3.]))
        >>> parts.largest().tolist()
        [1, 2]
        """
        alone = np.bincount(self.owner)[self.owner] == 1  # most: no sort needed
        shared = np.flatnonzero(~alone)
        order = shared[np.lexsort((-self.area[shared], self.owner[shared]))]
        first = np.r_[True, self.owner[order][1:] != self.owner[order][:-1]][: len(order)]
        return np.sort(np.r_[np.flatnonzero(alone), order[first]])


def check_polygon_cells(
    polygons: np.ndarray,
    level: int,
    limit: int | None,
    what: str,
    ids: np.ndarray | None = None,
) -> None:
    """Refuse polygons estimated to cover more than ``limit`` cells, before any allocation.

    ``ids`` (e.g. OSM ids) name the largest polygon in the message; else its row.

    Examples
    --------
    >>> box = shapely.box(9.0, 47.0, 9.5, 47.3)
    >>> check_polygon_cells(np.array([box]), 20, 1_000_000, "land-use")
    Traceback (most recent call last):
    ...
    ValueError: land-use polygon #0 would cover about 20,994,221 level-20 cells (1 polygon(s) \
over the limit of 1,000,000 cells per polygon); use a coarser level (level 17 or below fits) or \
a smaller area (bbox=), or raise the limit (max_cells_per_polygon=, --max-cells-per-polygon; \
0 for no limit)
    """
    if not limit or len(polygons) == 0:
        return
    estimate = estimate_cells_each(polygons, level)
    over = estimate > limit
    if not over.any():
        return
    worst = int(np.argmax(estimate))
    fits = level - 1  # the finest level whose estimate is within the limit (boundaries scale 2x)
    while fits > 0 and estimate_cells_each(polygons[worst : worst + 1], fits)[0] > limit:
        fits -= 1
    name = f"osm_id {ids[worst]}" if ids is not None else f"#{worst}"
    raise ValueError(
        f"{what} polygon {name} would cover about {estimate[worst]:,.0f} level-{level} cells "
        f"({int(over.sum())} polygon(s) over the limit of {limit:,} cells per polygon); use a "
        f"coarser level (level {max(fits, 0)} or below fits) or a smaller area (bbox=), or "
        "raise the limit (max_cells_per_polygon=, --max-cells-per-polygon; 0 for no limit)"
    )


def _runs(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``starts[k], starts[k] + 1, ...`` (``counts[k]`` values) for every k, concatenated."""
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets


def _batches(weights: np.ndarray, size: int = BATCH) -> list[slice]:
    """Consecutive slices of ``weights`` summing to about ``size`` each (at least one item)."""
    cut = np.searchsorted(np.cumsum(weights), np.arange(size, int(weights.sum()), size))
    edges = np.unique(np.r_[0, cut + 1, len(weights)].clip(0, len(weights)))
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def _cell_quads(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:6933 corners ``(n, 4, 2)`` of cells, and which are convex counter-clockwise quads.

    The others (cells with a pole as vertex or on the antimeridian, distorted
    level-0 to 2 cells) are measured with GEOS on :func:`cell_to_polygon` instead.
    """
    lat, lng = np.moveaxis(cell_to_boundary(cells), 2, 0)
    x, y = to_equal_area(lng.ravel(), lat.ravel())
    quads = np.stack([x, y], axis=1).reshape(-1, 4, 2)
    plain = (np.abs(lat).max(axis=1) < 89.0) & (np.ptp(lng, axis=1) < 90.0)
    return quads, plain & convex_ccw(quads)


def _quad_areas(
    rings: Rings,
    xy: tuple[np.ndarray, np.ndarray],
    orient: np.ndarray,
    owner: np.ndarray,
    quads: np.ndarray,
) -> np.ndarray:
    """Area of each pair's polygon (``owner``) inside its quadrilateral, all rings at once.

    ``orient`` (per ring) turns each ring's signed clipped area into area: +1 for
    counter-clockwise outer rings and clockwise holes, -1 for the others.
    """
    ring_count = np.bincount(rings.owner)[owner]
    pair = np.repeat(np.arange(len(owner)), ring_count)
    pair_ring = _runs(np.searchsorted(rings.owner, owner), ring_count)
    vertex_first = np.searchsorted(rings.ring, np.arange(len(rings.owner)))
    open_count = np.bincount(rings.ring, minlength=len(rings.owner))[pair_ring] - 1
    piece = np.repeat(np.arange(len(pair_ring)), open_count)
    vertex = _runs(vertex_first[pair_ring], open_count)
    origin = quads[pair, 0]  # local coordinates keep the products precise
    x, y = xy[0][vertex] - origin[piece, 0], xy[1][vertex] - origin[piece, 1]
    inside = quad_clip_areas(x, y, piece, quads[pair] - origin[:, None, :])
    return np.bincount(pair, weights=inside * orient[pair_ring], minlength=len(owner))


def _clip_areas(
    polygons: np.ndarray,
    rings: Rings,
    xy: tuple[np.ndarray, np.ndarray],
    orient: np.ndarray,
    owner: np.ndarray,
    cells: np.ndarray,
) -> np.ndarray:
    """Area of each (polygon, cell) pair's polygon inside the cell, in batches."""
    unique = sorted_unique(cells)
    quads, ok = _cell_quads(unique)
    index = np.searchsorted(unique, cells)
    area = np.empty(len(owner))
    fast = np.flatnonzero(ok[index])
    vertices = np.bincount(rings.vertex_owner, minlength=len(polygons))[owner[fast]]
    for batch in _batches(vertices):
        at = fast[batch]
        area[at] = _quad_areas(rings, xy, orient, owner[at], quads[index[at]])
    slow = np.flatnonzero(~ok[index])
    if len(slow):
        shapes = project(polygons[owner[slow]])
        squares = project(cell_to_polygon(cells[slow]))
        area[slow] = shapely.area(shapely.intersection(shapely.make_valid(shapes), squares))
    return area


def _cell_area(cells: np.ndarray) -> np.ndarray:
    """EPSG:6933 area of whole cells (straight edges between their vertices)."""
    quads, ok = _cell_quads(cells)
    area = np.empty(len(cells))
    local = quads[ok] - quads[ok][:, :1]
    ring = np.repeat(np.arange(int(ok.sum())), 4)
    area[ok] = shoelace_areas(local[..., 0].ravel(), local[..., 1].ravel(), ring, int(ok.sum()))
    area[~ok] = shapely.area(project(cell_to_polygon(cells[~ok])))
    return area


def _boundary_cells(rings: Rings, cut: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
    """(polygon, cell) pairs of the cells the rings of polygons ``cut`` pass through."""
    on = np.isin(rings.owner, cut)[rings.ring]
    seg, seg_ring = coordinate_segments(rings.coords[on], rings.ring[on])
    at, cells = segment_cells(seg, haversine_m(*seg.T), level)
    return unique_pairs(rings.owner[seg_ring[at]], cells)


def _grid_points(
    wide: np.ndarray, bounds: np.ndarray, level: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(polygon, lng, lat) of grid points over the bounding boxes, a batch at a time.

    The spacing, half the shortest cell edge in both directions (longitude
    spacing at the box's highest latitude), puts a point in every cell
    inside the box.
    """
    x0, y0, x1, y1 = bounds.T
    step_lat = np.degrees(min_edge_m(level) / 2.0 / EARTH_RADIUS_M)
    cos = np.cos(np.radians(np.maximum(np.abs(y0), np.abs(y1)))).clip(1e-9, 1.0)
    step_lng = step_lat / cos
    nx = np.floor((x1 - x0) / step_lng).astype(np.int64) + 2
    ny = np.floor((y1 - y0) / step_lat).astype(np.int64) + 2
    row_box = np.repeat(np.arange(len(wide)), ny)
    row = _runs(np.zeros(len(wide), np.int64), ny)
    for batch in _batches(nx[row_box]):
        box, k = row_box[batch], row[batch]
        point_box = np.repeat(box, nx[box])
        column = _runs(np.zeros(len(box), np.int64), nx[box])
        lng = np.minimum(x0[point_box] + column * step_lng[point_box], x1[point_box])
        lat = np.minimum(y0[point_box] + np.repeat(k, nx[box]) * step_lat, y1[point_box])
        yield wide[point_box], lng, lat


def _interior_cells(
    polygons: np.ndarray,
    wide: np.ndarray,
    bounds: np.ndarray,
    boundary: tuple[np.ndarray, np.ndarray],
    level: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(polygon, cell) pairs of cells inside the ``wide`` polygons that no ring edge touches."""
    found = [
        unique_pairs(owner, latlng_to_cell(lat, lng, level))
        for owner, lng, lat in _grid_points(wide, bounds, level)
    ]
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    owner, cells = unique_pairs(*(np.concatenate(c) for c in zip(*found, strict=True)))
    known = np.r_[np.zeros(len(owner), bool), np.ones(len(boundary[0]), bool)]
    both_owner, both_cells = np.r_[owner, boundary[0]], np.r_[cells, boundary[1]]
    order = np.lexsort((~known, both_cells, both_owner))  # a pair's boundary row first
    same = (both_owner[order][1:] == both_owner[order][:-1]) & (
        both_cells[order][1:] == both_cells[order][:-1]
    )
    fresh = order[np.r_[True, ~same] & ~known[order]]
    owner, cells = both_owner[fresh], both_cells[fresh]
    shapely.prepare(polygons[wide])
    lat, lng = cell_to_latlng(cells)
    inside = shapely.contains_xy(polygons[owner], lng, lat)
    return owner[inside], cells[inside]


def _crossing_parts(
    polygons: np.ndarray,
    rings: Rings,
    xy: tuple[np.ndarray, np.ndarray],
    signed: np.ndarray,
    area: np.ndarray,
    cut: np.ndarray,
    home: np.ndarray,
    level: int,
) -> list[PolygonParts]:
    """Parts of polygons crossing cell edges: clipped, whole interior cells, and the rest."""
    bounds = shapely.bounds(polygons[cut])
    x0, y0, x1, y1 = bounds.T
    diagonal = np.maximum(haversine_m(x0, y0, x1, y1), haversine_m(x0, y1, x1, y0))
    wide = diagonal >= SMALL_SHARE * min_edge_m(level)
    owner, cells = _boundary_cells(rings, cut, level)
    # a grid over each part's box: a polygon cut at the antimeridian spans 360 degrees
    shapes, shape_of = shapely.get_parts(polygons[cut[wide]], return_index=True)
    grid_boxes = (cut[wide][shape_of], shapely.bounds(shapes))
    inner = _interior_cells(polygons, *grid_boxes, (owner, cells), level)
    away = cells != home[owner]
    owner, cells = owner[away], cells[away]
    orient = np.sign(signed) * np.where(rings.hole, -1.0, 1.0)
    clipped = _clip_areas(polygons, rings, xy, orient, owner, cells)
    clipped[clipped < SLIVER * area[owner]] = 0.0
    parts = [
        PolygonParts(owner, cells, clipped),
        PolygonParts(*inner, _cell_area(inner[1])),
    ]
    taken = sum(np.bincount(p.owner, weights=p.area, minlength=len(polygons)) for p in parts)
    rest = np.maximum(area[cut] - taken[cut], 0.0)  # the first vertex's cell: the rest
    return [*parts, PolygonParts(cut, home[cut], rest)]


def split_polygons(
    polygons: np.ndarray,
    level: int,
    max_cells_per_polygon: int | None = DEFAULT_MAX_CELLS_PER_POLYGON,
    what: str = "area",
    ids: np.ndarray | None = None,
) -> PolygonParts:
    """Cut (multi)polygons at the edges of level-``level`` S2 cells: area of each part.

    Parameters
    ----------
    polygons
        Valid shapely Polygons/MultiPolygons in lng/lat degrees.
    level
        S2 level of the cells.
    max_cells_per_polygon
        Refuse any polygon estimated to cover more cells (``None`` or 0: no limit).
    what, ids
        Name the polygons in the size guard's message (``ids``: one per polygon).

    Returns
    -------
    PolygonParts
        One row per (polygon, cell) with a positive area; per polygon, the
        areas sum to its EPSG:6933 area.

    Examples
    --------
    >>> from s2vec_geo.features.equal_area import polygon_areas
    >>> square = shapely.box(24.9, 60.1, 24.92, 60.11)  # about 1.1 x 1.1 km
    >>> parts = split_polygons(np.array([square]), 14)
    >>> len(parts.cell) > 4, bool(abs(parts.area.sum() / polygon_areas([square])[0] - 1) < 1e-12)
    (True, True)
    """
    polygons = np.asarray(polygons, dtype=object)
    n = len(polygons)
    rings = polygon_rings(polygons)
    lng, lat = rings.coords[:, 0], rings.coords[:, 1]
    xy = to_equal_area(lng, lat)
    vertex_owner = rings.vertex_owner
    vertex_cell = latlng_to_cell(lat, lng, level)
    first = np.flatnonzero(np.r_[True, vertex_owner[1:] != vertex_owner[:-1]])[: len(vertex_owner)]
    home = np.zeros(n, np.int64)
    home[vertex_owner[first]] = vertex_cell[first]
    located = np.zeros(n, dtype=bool)
    located[vertex_owner[first]] = True
    crossing = np.zeros(n, dtype=bool)
    crossing[vertex_owner[vertex_cell != home[vertex_owner]]] = True
    one = np.flatnonzero(located & ~crossing)
    signed = shoelace_areas(*xy, rings.ring, len(rings.owner))
    area = rings_area(rings, n, signed)
    parts = [PolygonParts(one, home[one], area[one])]
    cut = np.flatnonzero(crossing)
    if len(cut):
        picked = None if ids is None else np.asarray(ids)[cut]
        check_polygon_cells(polygons[cut], level, max_cells_per_polygon, what, picked)
        parts += _crossing_parts(polygons, rings, xy, signed, area, cut, home, level)
    piece = np.concatenate([p.area for p in parts])
    keep = piece > 0
    return PolygonParts(
        np.concatenate([p.owner for p in parts]).astype(np.int64)[keep],
        np.concatenate([p.cell for p in parts]).astype(np.int64)[keep],
        piece[keep],
    )
