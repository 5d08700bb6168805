"""Numba kernels for the S2 cell arithmetic (called by :mod:`s2vec_geo.s2`, which checks input).

The kernels follow the S2 library's definitions step by step so that results
match s2geometry bit for bit:

* lat/lng in degrees -> radians as ``S1Angle::Degrees`` does (multiply by
  ``pi / 180``), then ``S2LatLng::ToPoint`` (cos/sin), ``S2::GetFace`` (largest
  absolute component, ties to the later axis), the face's (u, v), the quadratic
  UV -> ST projection and ST -> IJ by truncation clamped to ``[0, 2**30 - 1]``;
* (face, i, j) <-> Hilbert position through 4-bit lookup tables built the way
  ``InitLookupCell`` builds them;
* centres from the (si, ti) of ``GetCenterSiTi``, vertices from the cell's
  (u, v) bounds, lat/lng from a point with ``atan2`` (libm, as S2 uses).

Ids are handled as int64 (the same 64 bits as the uint64 S2 id); right shifts
are masked so that the sign bit never leaks in. Nothing here validates input:
the public functions do that before calling a kernel.

The array kernels run on every core (``prange``) from :data:`PARALLEL_MIN`
items when a core is spare (:func:`spare_core`); otherwise on one thread.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from s2vec_geo.core.options import MAX_LEVEL

LOOKUP_BITS = 4
SWAP_MASK = 1
INVERT_MASK = 2
MAX_SIZE = 1 << MAX_LEVEL  # leaf cells per face side, S2's kMaxSize / kLimitIJ
POS_TO_IJ = ((0, 1, 3, 2), (0, 2, 3, 1), (3, 2, 0, 1), (3, 1, 0, 2))
POS_TO_ORIENTATION = (SWAP_MASK, 0, 0, INVERT_MASK | SWAP_MASK)
_DEG_TO_RAD = math.pi / 180.0
_RAD_TO_DEG = 180.0 / math.pi
_DBL_EPSILON = float(np.finfo(np.float64).eps)

PARALLEL_MIN = 1 << 16
"""Items from which an array kernel may run on all cores (below, starting
threads costs more than it saves)."""


def spare_core() -> bool:
    """Whether a core is free besides this process: load average under cores - 0.5.

    Threads of a parallel kernel wait for the slowest; on a busy machine that
    costs more than the second core gives. On the 2 shared cores, lat/lng ->
    cell for 131 k to 8 M points took half the time on two threads at load
    0.8, and 1.2-1.5x as long at load 2.5 (except 8 M points: 0.84x).

    Examples
    --------
    >>> spare_core() in (True, False)
    True

    Where the system has no load average (Windows), a core counts as spare
    when there are two or more.
    """
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has none; OSError: unobtainable
        return cores > 1
    return load < cores - 0.5  # this process counts about 1


def _threads_by_size(kernel: Callable[..., None]) -> Callable[..., None]:
    """Run a parallel kernel on one thread for small inputs or when no core is spare."""

    @functools.wraps(kernel)
    def run(items: np.ndarray, *args: Any) -> None:
        if len(items) >= PARALLEL_MIN and spare_core():
            return kernel(items, *args)
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return kernel(items, *args)
        finally:
            numba.set_num_threads(threads)

    return run


def _build_lookup_tables() -> tuple[np.ndarray, np.ndarray]:
    """Return ``(lookup_pos, lookup_ij)`` for 4 levels of the Hilbert curve.

    ``lookup_pos[(ij << 2) | orientation] = (pos << 2) | new_orientation`` where
    ``ij = (i << 4) | j`` are 4 bits of i and j and ``pos`` the 8 position bits
    inside a 16 x 16 block; ``lookup_ij`` is the inverse map.
    """
    lookup_pos = np.zeros(1 << (2 * LOOKUP_BITS + 2), dtype=np.int64)
    lookup_ij = np.zeros_like(lookup_pos)
    # Depth-first walk of the curve: (level, i, j, position, orientation).
    for start in range(4):
        stack = [(0, 0, 0, 0, start)]
        while stack:
            level, i, j, pos, orientation = stack.pop()
            if level == LOOKUP_BITS:
                ij = (i << LOOKUP_BITS) | j
                lookup_pos[(ij << 2) | start] = (pos << 2) | orientation
                lookup_ij[(pos << 2) | start] = (ij << 2) | orientation
                continue
            for sub in range(4):
                r = POS_TO_IJ[orientation][sub]
                stack.append(
                    (
                        level + 1,
                        (i << 1) | (r >> 1),
                        (j << 1) | (r & 1),
                        (pos << 2) | sub,
                        orientation ^ POS_TO_ORIENTATION[sub],
                    )
                )
    return lookup_pos, lookup_ij


LOOKUP_POS, LOOKUP_IJ = _build_lookup_tables()


@njit(cache=True, inline="always")
def _uv_to_st(u: float) -> float:
    if u >= 0.0:
        return 0.5 * math.sqrt(1.0 + 3.0 * u)
    return 1.0 - 0.5 * math.sqrt(1.0 - 3.0 * u)


@njit(cache=True, inline="always")
def _st_to_uv(s: float) -> float:
    if s >= 0.5:
        return (1.0 / 3.0) * (4.0 * s * s - 1.0)
    return (1.0 / 3.0) * (1.0 - 4.0 * (1.0 - s) * (1.0 - s))


@njit(cache=True, inline="always")
def _st_to_ij(s: float) -> int:
    if not s > 0.0:
        return 0
    return min(int(MAX_SIZE * s), MAX_SIZE - 1)


@njit(cache=True)
def _xyz_to_face_uv(x: float, y: float, z: float) -> tuple[int, float, float]:
    """S2::XYZtoFaceUV: the face of the largest component and (u, v) on it."""
    ax, ay, az = abs(x), abs(y), abs(z)
    # Largest component, ties going to the later axis, as Vector3::LargestAbsComponent.
    if ax > ay and ax > az:
        face = 0 if x >= 0.0 else 3
    elif ax <= ay and ay > az:
        face = 1 if y >= 0.0 else 4
    else:
        face = 2 if z >= 0.0 else 5
    # A component equal to -0.0 compares >= 0, as `p[face] < 0` is false in S2.
    if face == 0:
        return face, y / x, z / x
    if face == 1:
        return face, -x / y, z / y
    if face == 2:
        return face, -x / z, -y / z
    if face == 3:
        return face, z / x, y / x
    if face == 4:
        return face, z / y, -x / y
    return face, -y / z, -x / z


@njit(cache=True)
def _face_uv_to_xyz(face: int, u: float, v: float) -> tuple[float, float, float]:
    """S2::FaceUVtoXYZ: the (unnormalized) point of (u, v) on a cube face."""
    if face == 0:
        return 1.0, u, v
    if face == 1:
        return -u, 1.0, v
    if face == 2:
        return -u, -v, 1.0
    if face == 3:
        return -1.0, -v, -u
    if face == 4:
        return v, -1.0, -u
    return v, u, -1.0


@njit(cache=True, inline="always")
def _xyz_to_latlng(x: float, y: float, z: float) -> tuple[float, float]:
    """S2LatLng(point) in degrees (atan2 of the raw components, "+ 0.0" as S2)."""
    lat = math.atan2(z + 0.0, math.sqrt(x * x + y * y))
    lng = math.atan2(y + 0.0, x + 0.0)
    return _RAD_TO_DEG * lat, _RAD_TO_DEG * lng


@njit(cache=True)
def face_ij_to_id(face: int, i: int, j: int) -> int:
    """S2CellId::FromFaceIJ: the leaf cell id (as int64) of (face, i, j)."""
    n = np.int64(face) << 60  # 3 face bits on top (shifted once more at the end)
    bits = np.int64(face & SWAP_MASK)  # the start orientation: odd faces are swapped
    for k in range(7, -1, -1):
        # 4 bits of i and j at a time, high to low: index = i4 | j4 | orientation (2 bits)
        bits += ((i >> (k * LOOKUP_BITS)) & 15) << 6
        bits += ((j >> (k * LOOKUP_BITS)) & 15) << 2
        bits = LOOKUP_POS[bits]  # -> 8 Hilbert position bits | the next orientation
        n |= (bits >> 2) << (k * 2 * LOOKUP_BITS)
        bits &= SWAP_MASK | INVERT_MASK  # keep the orientation for the next 4 bits
    return (n << 1) | 1  # leaf id: 60 position bits, then the trailing 1


@njit(cache=True)
def id_to_face_ij(cell: int) -> tuple[int, int, int]:
    """S2CellId::ToFaceIJOrientation without the orientation: (face, i, j).

    For a cell above leaf level, (i, j) is the leaf cell next to its centre
    that the id's trailing ``100...0`` bits select.
    """
    face = (cell >> 61) & 7  # top 3 bits
    bits = face & SWAP_MASK  # the start orientation, as in face_ij_to_id
    i = 0
    j = 0
    for k in range(7, -1, -1):
        nbits = 2 if k == 7 else LOOKUP_BITS  # 60 position bits = 7 x 8 + 4
        # the position bits of chunk k (8; 4 at the top), past the trailing bit | orientation
        bits += ((cell >> (k * 2 * LOOKUP_BITS + 1)) & ((1 << (2 * nbits)) - 1)) << 2
        bits = LOOKUP_IJ[bits]  # -> i4 | j4 | the next orientation
        i += (bits >> 6) << (k * LOOKUP_BITS)
        j += ((bits >> 2) & 15) << (k * LOOKUP_BITS)
        bits &= SWAP_MASK | INVERT_MASK
    return face, i, j


@njit(cache=True, inline="always")
def _parent(cell: int, level: int) -> int:
    lsb = np.int64(1) << (2 * (MAX_LEVEL - level))  # the trailing 1 of a level-``level`` id
    return (cell & -lsb) | lsb  # clear the bits below it, set it


@njit(cache=True, inline="always")
def _level(cell: int) -> int:
    lsb = cell & -cell  # the lowest set bit: 2 trailing zeros per level below 30
    zeros = 0
    while (lsb >> zeros) != 1:
        zeros += 2
    return MAX_LEVEL - (zeros >> 1)


@_threads_by_size
@njit(cache=True, parallel=True)
def latlng_to_cells(lat: np.ndarray, lng: np.ndarray, level: int, out: np.ndarray) -> None:
    """Fill ``out`` with the level-``level`` cell of each (lat, lng) in degrees."""
    for n in prange(lat.shape[0]):
        phi = _DEG_TO_RAD * lat[n]
        theta = _DEG_TO_RAD * lng[n]
        cosphi = math.cos(phi)
        x = math.cos(theta) * cosphi
        y = math.sin(theta) * cosphi
        face, u, v = _xyz_to_face_uv(x, y, math.sin(phi))
        i = _st_to_ij(_uv_to_st(u))
        j = _st_to_ij(_uv_to_st(v))
        out[n] = _parent(face_ij_to_id(face, i, j), level)


@_threads_by_size
@njit(cache=True, parallel=True)
def cells_to_face_ij(cells: np.ndarray, face: np.ndarray, i: np.ndarray, j: np.ndarray) -> None:
    """Fill (face, i, j) leaf coordinates of each cell (see :func:`id_to_face_ij`)."""
    for n in prange(cells.shape[0]):
        face[n], i[n], j[n] = id_to_face_ij(cells[n])


@_threads_by_size
@njit(cache=True, parallel=True)
def face_ij_to_cells(
    face: np.ndarray, i: np.ndarray, j: np.ndarray, level: int, out: np.ndarray
) -> None:
    """Fill ``out`` with the level-``level`` cell containing each leaf (face, i, j)."""
    for n in prange(face.shape[0]):
        out[n] = _parent(face_ij_to_id(face[n], i[n], j[n]), level)


@_threads_by_size
@njit(cache=True, parallel=True)
def cells_to_latlng(cells: np.ndarray, lat: np.ndarray, lng: np.ndarray) -> None:
    """Fill the centre (degrees) of each cell, as ``S2CellId::ToLatLng``."""
    for n in prange(cells.shape[0]):
        cell = cells[n]
        face, i, j = id_to_face_ij(cell)
        if cell & 1:
            delta = 1
        elif ((i ^ (cell >> 2)) & 1) != 0:  # S2's centre rule for non-leaf cells
            delta = 2
        else:
            delta = 0
        # (si, ti) = (2 i + delta, 2 j + delta) in units of 2**-31.
        u = _st_to_uv((2 * i + delta) * (1.0 / (2 * MAX_SIZE)))
        v = _st_to_uv((2 * j + delta) * (1.0 / (2 * MAX_SIZE)))
        x, y, z = _face_uv_to_xyz(face, u, v)
        lat[n], lng[n] = _xyz_to_latlng(x, y, z)


@_threads_by_size
@njit(cache=True, parallel=True)
def cells_to_boundary(cells: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[n, k] = (lat, lng)`` of vertex k of each cell, S2 order (CCW)."""
    for n in prange(cells.shape[0]):
        cell = cells[n]
        face, i, j = id_to_face_ij(cell)
        size = np.int64(1) << (MAX_LEVEL - _level(cell))
        i_lo = i & -size  # the cell's lowest leaf i: size is a power of two
        j_lo = j & -size
        u_lo = _st_to_uv((1.0 / MAX_SIZE) * i_lo)
        u_hi = _st_to_uv((1.0 / MAX_SIZE) * (i_lo + size))
        v_lo = _st_to_uv((1.0 / MAX_SIZE) * j_lo)
        v_hi = _st_to_uv((1.0 / MAX_SIZE) * (j_lo + size))
        for k in range(4):
            u = u_hi if (k == 1 or k == 2) else u_lo
            v = v_hi if k >= 2 else v_lo
            x, y, z = _face_uv_to_xyz(face, u, v)
            norm = math.sqrt(x * x + y * y + z * z)
            scale = 1.0 / norm
            out[n, k, 0], out[n, k, 1] = _xyz_to_latlng(x * scale, y * scale, z * scale)


@njit(cache=True)
def cells_to_tokens(cells: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[offsets[n]:offsets[n + 1]]`` with the leading hex digits (ASCII) of cell n."""
    for n in range(cells.shape[0]):
        cell = cells[n]
        at = offsets[n]
        for k in range(offsets[n + 1] - at):
            nibble = (cell >> (60 - 4 * k)) & 15  # the mask drops the sign bits
            out[at + k] = nibble + (48 if nibble < 10 else 87)  # '0'-'9', 'a'-'f'


@njit(cache=True)
def _face_ij_wrap_to_id(face: int, i: int, j: int) -> int:
    """S2CellId::FromFaceIJWrap: leaf (i, j) just off a face, moved onto its neighbour."""
    i = max(-1, min(MAX_SIZE, i))
    j = max(-1, min(MAX_SIZE, j))
    scale = 1.0 / MAX_SIZE
    limit = 1.0 + _DBL_EPSILON
    u = max(-limit, min(limit, scale * (2 * (i - MAX_SIZE // 2) + 1)))
    v = max(-limit, min(limit, scale * (2 * (j - MAX_SIZE // 2) + 1)))
    x, y, z = _face_uv_to_xyz(face, u, v)
    face2, u2, v2 = _xyz_to_face_uv(x, y, z)
    return face_ij_to_id(face2, _st_to_ij(0.5 * (u2 + 1.0)), _st_to_ij(0.5 * (v2 + 1.0)))


@njit(cache=True, inline="always")
def _face_ij_same(face: int, i: int, j: int, same_face: bool) -> int:
    if same_face:
        return face_ij_to_id(face, i, j)
    return _face_ij_wrap_to_id(face, i, j)


@_threads_by_size
@njit(cache=True, parallel=True)
def edge_neighbors(cells: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[n]`` with the 4 edge neighbours (bottom, right, top, left)."""
    for n in prange(cells.shape[0]):
        cell = cells[n]
        level = _level(cell)
        size = np.int64(1) << (MAX_LEVEL - level)
        face, i, j = id_to_face_ij(cell)
        out[n, 0] = _parent(_face_ij_same(face, i, j - size, j - size >= 0), level)
        out[n, 1] = _parent(_face_ij_same(face, i + size, j, i + size < MAX_SIZE), level)
        out[n, 2] = _parent(_face_ij_same(face, i, j + size, j + size < MAX_SIZE), level)
        out[n, 3] = _parent(_face_ij_same(face, i - size, j, i - size >= 0), level)
