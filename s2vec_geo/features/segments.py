"""Straight segments of lines and rings, their lengths, and the S2 cells they can touch.

Roads are cut at cell edges segment by segment, and polygons that cross
cell edges find the cells to clip against from the segments of their rings;
both ask :func:`segment_cells` which cells a straight lng/lat segment can
touch, and roads measure the length inside each with :func:`length_in_cells`.
Lengths are great-circle (haversine) metres on a sphere of the Earth's mean
radius (:mod:`s2vec_geo.core.geodesy`).
"""

from __future__ import annotations

import functools

import numpy as np
import shapely

from s2vec_geo.core.geodesy import haversine_m, min_edge_m
from s2vec_geo.features.convex_clip import convex_ccw
from s2vec_geo.s2 import cell_edge_neighbors, cell_to_polygon, latlng_to_cell
from s2vec_geo.s2.cover import sorted_unique
from s2vec_geo.s2.geometry import cell_to_corners, row_range


def coordinate_segments(coords: np.ndarray, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments between consecutive coordinates of the same part: (n, 4) and their part.

    Examples
    --------
    >>> seg, of = coordinate_segments(np.array([[0., 0], [1, 0], [5, 5], [6, 5]]),
    ...                               np.array([0, 0, 1, 1]))
    >>> seg.tolist(), of.tolist()
    ([[0.0, 0.0, 1.0, 0.0], [5.0, 5.0, 6.0, 5.0]], [0, 1])
    """
    start = np.flatnonzero(part[1:] == part[:-1])
    seg = np.empty((len(start), 4))
    seg[:, :2], seg[:, 2:] = coords[start], coords[start + 1]
    return seg, part[start]


def segments(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight segments of (multi)lines or rings: (n, 4) lng0, lat0, lng1, lat1 and line index.

    Examples
    --------
    >>> seg, line = segments(np.array([shapely.LineString([(0, 0), (1, 0), (1, 1)])]))
    >>> seg.shape, line.tolist()
    ((2, 4), [0, 0])
    """
    if (shapely.get_type_id(lines) == 1).all():  # plain LineStrings: no copies needed
        parts, line_of_part = lines, np.arange(len(lines))
    else:
        parts, line_of_part = shapely.get_parts(lines, return_index=True)
    coords, part = shapely.get_coordinates(parts, return_index=True)
    seg, seg_part = coordinate_segments(coords, part)
    return seg, line_of_part[seg_part]


def unique_pairs(owner: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (owner, cell) pairs, sorted by owner then cell.

    Examples
    --------
    >>> [a.tolist() for a in unique_pairs(np.array([1, 0, 1]), np.array([7, 8, 7]))]
    [[0, 1], [8, 7]]
    """
    order = np.lexsort((cell, owner))
    owner, cell = owner[order], cell[order]
    keep = np.r_[True, (owner[1:] != owner[:-1]) | (cell[1:] != cell[:-1])][: len(owner)]
    return owner[keep], cell[keep]


def segment_cells(
    seg: np.ndarray, lengths: np.ndarray, level: int
) -> tuple[np.ndarray, np.ndarray]:
    """The level-``level`` cells each segment can touch: (segment index, cell), distinct pairs.

    Candidate cells are those of points sampled along each segment at most a
    quarter of the smallest cell edge apart. Between two samples the segment
    can only enter a third cell by cutting a corner, i.e. when the two sampled
    cells are not edge neighbours; then their edge neighbours are added too.

    Examples
    --------
    >>> seg = np.array([[24.90, 60.17, 24.99, 60.17]])  # ~5 km east-west
    >>> owner, cells = segment_cells(seg, haversine_m(*seg.T), 12)
    >>> bool(len(cells) >= 2 and (owner == 0).all())
    True
    """
    step = min_edge_m(level) / 4.0
    samples = np.maximum(np.ceil(lengths / step).astype(np.int64), 1) + 1
    owner = np.repeat(np.arange(len(seg)), samples)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(samples) - samples, samples)
    t = offset / (samples[owner] - 1)
    lng = seg[owner, 0] + t * (seg[owner, 2] - seg[owner, 0])
    lat = seg[owner, 1] + t * (seg[owner, 3] - seg[owner, 1])
    sampled = latlng_to_cell(lat, lng, level)
    moved = sampled[1:] != sampled[:-1]
    step_at = np.flatnonzero((owner[1:] == owner[:-1]) & moved)
    adjacent = (cell_edge_neighbors(sampled[step_at]) == sampled[step_at + 1, None]).any(axis=1)
    corner = np.r_[step_at[~adjacent], step_at[~adjacent] + 1]
    new = np.r_[True, moved | (owner[1:] != owner[:-1])]  # runs of samples in one cell: one
    return unique_pairs(
        np.r_[owner[new], np.repeat(owner[corner], 4)],
        np.r_[sampled[new], cell_edge_neighbors(sampled[corner]).ravel()],
    )


def _clip_to_quads(seg: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """The part of each segment inside its convex counter-clockwise quadrilateral (Cyrus-Beck).

    Returns the ``(n, 4)`` clipped segments; a segment that misses its
    quadrilateral (or touches it in a point) comes back with both ends equal.
    """
    origin = quads[:, :1]  # local coordinates keep the products precise
    quads = quads - origin
    start, end = seg[:, :2] - origin[:, 0], seg[:, 2:] - origin[:, 0]
    enter, leave = np.zeros(len(seg)), np.ones(len(seg))
    for k in range(4):
        a, b = quads[:, k], quads[:, (k + 1) % 4]
        ex, ey = (b - a).T
        d0 = ex * (start[:, 1] - a[:, 1]) - ey * (start[:, 0] - a[:, 0])  # >= 0: inside
        d1 = ex * (end[:, 1] - a[:, 1]) - ey * (end[:, 0] - a[:, 0])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = d0 / (d0 - d1)
        enter = np.where((d0 < 0.0) & (d1 >= 0.0), np.maximum(enter, t), enter)
        leave = np.where((d0 >= 0.0) & (d1 < 0.0), np.minimum(leave, t), leave)
        leave = np.where((d0 < 0.0) & (d1 < 0.0), -1.0, leave)
    leave = np.maximum(leave, enter)
    delta = seg[:, 2:] - seg[:, :2]
    return np.column_stack(
        [seg[:, :2] + enter[:, None] * delta, seg[:, :2] + leave[:, None] * delta]
    )


def length_in_cells(seg: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Metres of each straight lng/lat segment inside its cell (edges straight in lng/lat).

    The cell is the polygon :func:`~s2vec_geo.s2.cell_to_polygon` gives. Most
    cells are convex quadrilaterals: segments are clipped to them with a few
    array operations; the others (a pole as a vertex, over 90 degrees of
    longitude wide, not convex) are intersected with GEOS.

    Examples
    --------
    >>> seg = np.array([[24.90, 60.17, 24.99, 60.17]])  # ~5 km east-west
    >>> owner, cells = segment_cells(seg, haversine_m(*seg.T), 12)
    >>> inside = length_in_cells(seg[owner], cells)
    >>> len(cells), round(float(inside.sum() / haversine_m(*seg.T)[0]), 6)
    (3, 1.0)
    """
    unique = sorted_unique(cells)
    at = np.searchsorted(unique, cells)
    corners = cell_to_corners(unique)
    polar = functools.reduce(np.maximum, np.abs(corners[:, :, 1]).T) >= 89.0  # rows of 4: by column
    plain = ~polar & (row_range(corners[:, :, 0]) < 90.0) & convex_ccw(corners)
    metres = np.zeros(len(seg))
    fast = plain[at]
    metres[fast] = haversine_m(*_clip_to_quads(seg[fast], corners[at[fast]]).T)
    slow = np.flatnonzero(~fast)
    if len(slow):
        lines = shapely.linestrings(seg[slow].reshape(-1, 2, 2))
        pieces = shapely.intersection(lines, cell_to_polygon(unique)[at[slow]])
        parts, part_of = shapely.get_parts(pieces, return_index=True)
        is_line = shapely.get_type_id(parts) == 1  # corner touches give points
        piece_seg, piece_part = segments(parts[is_line])
        metres[slow] = np.bincount(
            part_of[is_line][piece_part], weights=haversine_m(*piece_seg.T), minlength=len(slow)
        )
    return metres
