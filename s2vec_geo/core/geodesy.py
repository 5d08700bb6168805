"""Geodesy, said once: the Earth's radius, S2 cell sizes, great-circle lengths, shoelace areas.

Lengths and areas are on a sphere of the Earth's mean radius
(:data:`EARTH_RADIUS_M`), everywhere in the package: road lengths, cell
sizes for the size guards, the gnomonic CRS of GeoTIFF exports.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
"""The Earth's mean radius (IUGG R1), metres."""

_AVG_AREA_DERIV = 4.0 * math.pi / 6.0  # S2 kAvgArea: steradians of a level-0 cell
_AVG_EDGE_DERIV = 1.459213746386106  # S2 kAvgEdge: radians of a level-0 cell's edge
MIN_EDGE_RAD = 2.0 * math.sqrt(2.0) / 3.0
"""Smallest S2 cell edge at level 0, radians (S2's kMinEdge derivative, 2*sqrt(2)/3)."""


def avg_cell_area(level: int) -> float:
    """Mean area of an S2 cell at ``level``, in steradians (times R^2 for m^2).

    Examples
    --------
    >>> round(avg_cell_area(12) * EARTH_RADIUS_M**2 / 1e6, 2)  # km2
    5.07
    """
    return _AVG_AREA_DERIV / 4.0**level


def avg_cell_edge(level: int) -> float:
    """Mean edge length of an S2 cell at ``level``, in radians (times R for metres).

    Examples
    --------
    >>> round(avg_cell_edge(30) * EARTH_RADIUS_M * 1000, 1)  # mm
    8.7
    """
    return _AVG_EDGE_DERIV / 2.0**level


def mean_cell_area_m2(level: int) -> float:
    """Average area of a level-``level`` S2 cell on Earth, square metres.

    Examples
    --------
    >>> round(mean_cell_area_m2(16))
    19793
    """
    return avg_cell_area(level) * EARTH_RADIUS_M**2


def min_edge_m(level: int) -> float:
    """The shortest edge of any level-``level`` S2 cell, metres.

    Examples
    --------
    >>> round(min_edge_m(16), 1)
    91.7
    """
    return float(MIN_EDGE_RAD * 2.0**-level * EARTH_RADIUS_M)


def haversine_m(lng0: Any, lat0: Any, lng1: Any, lat1: Any) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees.

    Examples
    --------
    >>> round(float(haversine_m(0, 0, 1, 0)))
    111195
    """
    lng0, lat0, lng1, lat1 = (
        np.radians(np.asarray(v, np.float64)) for v in (lng0, lat0, lng1, lat1)
    )
    a = (
        np.sin((lat1 - lat0) / 2) ** 2
        + np.cos(lat0) * np.cos(lat1) * np.sin((lng1 - lng0) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _ring_starts(ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per vertex: the index of its ring's first vertex, and whether it is its ring's last."""
    index = np.arange(len(ring))
    changes = ring[1:] != ring[:-1]  # (n - 1,) True where a new ring starts at the next vertex
    first = np.r_[True, changes]  # (n,) a ring starts here
    last = np.r_[changes, True]  # (n,) a ring ends here
    return np.maximum.accumulate(np.where(first, index, 0)), last


def next_in_ring(ring: np.ndarray) -> np.ndarray:
    """Index of each vertex's successor, wrapping at the end of its ring.

    Examples
    --------
    >>> next_in_ring(np.array([0, 0, 0, 1, 1])).tolist()  # two rings: 0-1-2, 3-4
    [1, 2, 0, 4, 3]
    """
    if len(ring) == 0:
        return np.zeros(0, np.int64)
    start, last = _ring_starts(ring)
    return np.where(last, start, np.arange(len(ring)) + 1)


def shoelace_areas(x: np.ndarray, y: np.ndarray, ring: np.ndarray, n: int) -> np.ndarray:
    """Signed shoelace area of each of ``n`` rings (counter-clockwise positive).

    Rings are runs of vertices grouped by ``ring``, open or closed (a repeated
    closing vertex adds nothing); each is summed about its first vertex, so
    products stay small far from the origin.

    Examples
    --------
    >>> shoelace_areas(np.array([0., 2, 2]), np.array([0., 0, 3]), np.zeros(3, int), 1)
    array([3.])
    >>> shoelace_areas(np.array([0., 2, 2, 0]), np.array([0., 0, 3, 0]), np.zeros(4, int), 1)
    array([3.])
    """
    if len(ring) == 0:
        return np.zeros(n)
    start, last = _ring_starts(ring)
    nxt = np.where(last, start, np.arange(len(ring)) + 1)
    dx, dy = x - x[start], y - y[start]  # about the ring's first vertex
    cross = dx * dy[nxt] - dx[nxt] * dy  # twice the signed triangle (first, vertex, successor)
    return np.bincount(ring, weights=cross, minlength=n) / 2.0
