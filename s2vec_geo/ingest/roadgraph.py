"""Road-graph intersections: vertices where three or more road edges meet.

A vertex's degree counts the road edges touching it: an interior vertex of a
line adds 2, a line's first and last vertex add 1 each. Vertices of degree
>= 3 are intersections (T-junctions, crossroads, roundabout entries); a plain
joint of two lines (degree 2) and a dead end (degree 1) are not. OSM input
identifies vertices by node id; other layers by their coordinates rounded to
1e-7 degrees (about 1 cm), so lines must share exact vertices, as exported
road networks do.
"""

from __future__ import annotations

import numpy as np
import shapely

COORD_SCALE = 1e7


def coordinate_keys(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Int64 vertex keys from coordinates rounded to 1e-7 degrees.

    Examples
    --------
    >>> import numpy as np
    >>> k = coordinate_keys(np.array([24.9, 24.90000000001]), np.array([60.1, 60.1]))
    >>> bool(k[0] == k[1])
    True
    """
    lat_q = np.rint((np.asarray(lat, np.float64) + 90.0) * COORD_SCALE).astype(np.int64)
    lng_q = np.rint((np.asarray(lng, np.float64) + 180.0) * COORD_SCALE).astype(np.int64)
    return (lat_q << 32) | lng_q


def intersections(
    keys: np.ndarray, line: np.ndarray, lng: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Intersections of a road graph given as flat, line-grouped vertex arrays.

    Parameters
    ----------
    keys
        Int64 vertex identity (OSM node id or :func:`coordinate_keys`), one per vertex.
    line
        Line number of each vertex; the vertices of a line are consecutive, in order.
    lng, lat
        Vertex coordinates, degrees.

    Returns
    -------
    points, keys
        Shapely points of the intersections and their vertex keys (sorted by key).

    Examples
    --------
    >>> import numpy as np
    >>> # a T: line 0 passes through vertex 2, line 1 ends there
    >>> pts, k = intersections(np.array([1, 2, 3, 2, 4]), np.array([0, 0, 0, 1, 1]),
    ...                        np.array([0., 1, 2, 1, 1]), np.array([0., 0, 0, 0, 1]))
    >>> k.tolist(), pts[0].wkt
    ([2], 'POINT (1 0)')
    """
    keys = np.asarray(keys, np.int64)
    line = np.asarray(line)
    if len(keys) == 0:
        return np.empty(0, dtype=object), np.empty(0, np.int64)
    change = line[1:] != line[:-1]
    end = np.r_[True, change] | np.r_[change, True]
    degree = np.where(end, 1, 2)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    total = np.add.reduceat(degree[order], starts)
    hit = order[starts[total >= 3]]
    return shapely.points(np.asarray(lng)[hit], np.asarray(lat)[hit]), keys[hit]
