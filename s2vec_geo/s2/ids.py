"""S2 cell ids: from lat/lng, levels, parents, children, grid positions, tokens.

Cell ids are int64 NumPy arrays holding the 64 bits of the uint64 S2 id (the
way BigQuery stores them). Every function is vectorized and matches the
s2geometry library bit for bit: 1-D array-likes in give arrays out, scalars in
give scalars out (an ``np.int64`` id, a ``str`` token), so the functions also
work one cell at a time, e.g. in ``pd.Index(ids).map(...)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from s2vec_geo.s2.validation import MAX_LEVEL, as_cells, as_latlng, scalars_in_out, validate_level

_NIBBLE_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)  # first hex digit = top 4 bits
_MAX_CHILD_DEPTH = 12  # 4**12 = 16.8 M children (134 MB of ids)


def _hex_values() -> np.ndarray:
    """Map byte -> nibble value; -1 for bytes that are not hex digits, 0 for NUL."""
    table = np.full(256, -1, dtype=np.int8)
    table[0] = 0  # the padding of fixed-width byte strings
    for value, char in enumerate("0123456789abcdef"):
        table[ord(char)] = value
        table[ord(char.upper())] = value
    return table


_HEX_VALUES = _hex_values()


@scalars_in_out("lat", "lng")
def latlng_to_cell(lat: Any, lng: Any, level: int) -> np.ndarray | np.int64:
    """Return the S2 cell id at ``level`` containing each (lat, lng) point.

    Parameters
    ----------
    lat, lng
        Degrees (EPSG:4326), scalars or 1-D arrays of equal length (a scalar
        broadcasts). Latitude in [-90, 90], longitude in [-180, 180], no NaN.
    level
        S2 level 0-30 (S2Vec's patches are level 12, ~5 km2).

    Returns
    -------
    numpy.ndarray or numpy.int64
        int64 cell ids, one per point; one ``np.int64`` when lat and lng are
        scalars.

    Examples
    --------
    >>> cell_to_token(latlng_to_cell(40.7128, -74.0060, 12))
    '89c25a3'
    >>> cell_to_token(latlng_to_cell([40.7128, 60.1699], [-74.0060, 24.9384], 12))
    array(['89c25a3', '46920bd'], dtype='<U16')
    """
    from s2vec_geo.s2 import kernels

    level = validate_level(level)
    lat_a, lng_a = as_latlng(lat, lng)
    out = np.empty(lat_a.shape[0], dtype=np.int64)
    kernels.latlng_to_cells(lat_a, lng_a, level, out)
    return out


def _levels(cells: np.ndarray) -> np.ndarray:
    """Level of each (already validated) cell: 30 - (trailing zero bits) / 2."""
    lsb = cells & -cells
    # frexp is exact on powers of two (also 2**60 as float); exponent = bit index + 1.
    _, exponent = np.frexp(lsb.view(np.uint64).astype(np.float64))
    return MAX_LEVEL - ((exponent.astype(np.int64) - 1) >> 1)


@scalars_in_out("cells")
def cell_level(cells: Any) -> np.ndarray | np.int64:
    """Return the level (0-30) of each cell (one level for one cell).

    Examples
    --------
    >>> cell_level(token_to_cell(["89c25a3", "89c25c"]))
    array([12,  9])
    >>> print(cell_level(token_to_cell("89c25a3")))
    12
    """
    return _levels(as_cells(cells))


def single_level(cells: Any, message: str) -> int:
    """The one S2 level of all ``cells``; ``ValueError(message)`` if they mix levels.

    ``message`` names the problem and the fix; ``{levels}`` in it is replaced by
    the sorted levels found.

    Examples
    --------
    >>> single_level(token_to_cell(["89c25a3", "89c25a5"]), "mixed: {levels}")
    12
    """
    levels = np.unique(cell_level(cells))
    if levels.size != 1:
        raise ValueError(message.format(levels=levels.tolist()))
    return int(levels[0])


def _check_coarser(cells: np.ndarray, level: int, name: str) -> None:
    """Raise if any cell is coarser than ``level`` (no ancestor at that level)."""
    levels = _levels(cells)
    if (levels < level).any():
        raise ValueError(
            f"{name}={level} is finer than some cells (levels down to {int(levels.min())}); "
            f"pass a {name} no greater than the coarsest cell's level"
        )


def _lsb_for_level(level: int) -> np.int64:
    return np.int64(1) << np.int64(2 * (MAX_LEVEL - level))


@scalars_in_out("cells")
def cell_parent(cells: Any, level: int) -> np.ndarray | np.int64:
    """Return each cell's ancestor at ``level`` (the cell itself at its own level).

    Examples
    --------
    >>> cell = latlng_to_cell(40.7128, -74.0060, 30)
    >>> bool(cell_parent(cell, 12) == latlng_to_cell(40.7128, -74.0060, 12))
    True
    >>> import pandas as pd
    >>> ids = pd.Index(token_to_cell(["89c25a3", "89c25a5"]))
    >>> ids.map(lambda c: cell_to_token(cell_parent(c, 9))).tolist()
    ['89c25c', '89c25c']
    """
    level = validate_level(level)
    array = as_cells(cells)
    _check_coarser(array, level, "level")
    lsb = _lsb_for_level(level)
    return (array & -lsb) | lsb


def _face_ij(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face, i, j) leaf coordinates of validated cells (S2's ToFaceIJOrientation)."""
    from s2vec_geo.s2 import kernels

    face = np.empty(cells.shape[0], dtype=np.int64)
    i = np.empty_like(face)
    j = np.empty_like(face)
    kernels.cells_to_face_ij(cells, face, i, j)
    return face, i, j


@scalars_in_out("cells")
def cell_position(cells: Any, ancestor_level: int) -> tuple[Any, Any]:
    """Return the (row, col) of each cell inside its ancestor at ``ancestor_level``.

    With ``d = level - ancestor_level``, ``row`` is the low ``d`` bits of the
    cell's S2 ``i`` coordinate and ``col`` the low ``d`` bits of ``j``, so the
    cells of one ancestor fill a ``2**d x 2**d`` grid whose horizontally and
    vertically adjacent pixels are S2 edge neighbours, and
    ``cell_children(ancestor, level)[row * 2**d + col]`` is the cell.

    Examples
    --------
    >>> parent = latlng_to_cell(40.7128, -74.0060, 8)
    >>> kids = cell_children(parent, 12)
    >>> row, col = cell_position(kids, 8)
    >>> bool((row * 16 + col == np.arange(256)).all())
    True
    >>> print(*cell_position(kids[17], 8))  # one cell: a (row, col) of scalars
    1 1
    """
    ancestor_level = validate_level(ancestor_level, "ancestor_level")
    array = as_cells(cells)
    _check_coarser(array, ancestor_level, "ancestor_level")
    levels = _levels(array)
    _, i, j = _face_ij(array)
    shift = MAX_LEVEL - levels
    mask = (np.int64(1) << (levels - ancestor_level)) - 1
    return (i >> shift) & mask, (j >> shift) & mask


@scalars_in_out("cells")
def cell_face_ij(cells: Any) -> tuple[Any, Any, Any]:
    """Return each cell's cube face and its (i, j) position at its own level.

    ``i`` and ``j`` count cells of the cell's level along the face's axes,
    from 0 to ``2**level - 1``; cells of one level whose (i, j) differ by 1 in
    one coordinate (same face) share an edge. Inverse of :func:`face_ij_to_cell`.

    Examples
    --------
    >>> cell = latlng_to_cell(40.7128, -74.0060, 12)
    >>> face, i, j = cell_face_ij(cell)
    >>> print(face, i, j)
    4 164 2793
    >>> bool(face_ij_to_cell(face, i, j, 12) == cell)
    True
    """
    array = as_cells(cells)
    face, i, j = _face_ij(array)
    shift = MAX_LEVEL - _levels(array)
    return face, i >> shift, j >> shift


@scalars_in_out("face", "i", "j")
def face_ij_to_cell(face: Any, i: Any, j: Any, level: int) -> np.ndarray | np.int64:
    """Return the level-``level`` cells at cube ``face`` and (i, j) of that level.

    ``i`` and ``j`` must lie in ``[0, 2**level)``; see :func:`cell_face_ij`.

    Examples
    --------
    >>> cell_to_token(face_ij_to_cell(0, 0, 0, 1))
    '04'
    >>> cell_to_token(face_ij_to_cell(0, [0, 1], 0, 1))
    array(['04', '1c'], dtype='<U16')
    """
    from s2vec_geo.s2 import kernels

    level = validate_level(level)
    face_a, i_a, j_a = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v, dtype=np.int64)) for v in (face, i, j))
    )
    side = np.int64(1) << np.int64(level)
    bad = (face_a < 0) | (face_a > 5) | (i_a < 0) | (i_a >= side) | (j_a < 0) | (j_a >= side)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} (face, i, j) triples are off the cube: faces are 0-5 and i, j "
            f"run from 0 to {int(side) - 1} at level {level}"
        )
    shift = np.int64(MAX_LEVEL - level)
    out = np.empty(face_a.shape[0], dtype=np.int64)
    kernels.face_ij_to_cells(
        np.ascontiguousarray(face_a),
        np.ascontiguousarray(i_a << shift),
        np.ascontiguousarray(j_a << shift),
        level,
        out,
    )
    return out


def cell_children(cell: Any, level: int) -> np.ndarray:
    """Return the descendants of one cell at ``level`` in raster order.

    The result has ``4**d`` ids (``d = level - cell level``); index
    ``row * 2**d + col`` holds the child at that grid position (see
    :func:`cell_position`).

    Parameters
    ----------
    cell
        One cell id.
    level
        Level of the children, at least the cell's level and at most 12 levels
        below it.

    Examples
    --------
    >>> parent = token_to_cell("89c25c")
    >>> kids = cell_children(parent, 10)
    >>> kids.shape, bool((cell_parent(kids, 9) == parent).all())
    ((4,), True)
    """
    from s2vec_geo.s2 import kernels

    level = validate_level(level)
    array = as_cells(cell)
    if array.size != 1:
        raise ValueError(
            f"cell_children takes one cell, got {array.size}; loop over the cells "
            "(or use cell_parent/cell_position to go the other way)"
        )
    parent_level = int(_levels(array)[0])
    depth = level - parent_level
    if depth < 0:
        raise ValueError(
            f"level={level} is coarser than the cell's level {parent_level}; "
            "children need a level at least the cell's level (use cell_parent for ancestors)"
        )
    if depth > _MAX_CHILD_DEPTH:
        raise ValueError(
            f"level={level} is {depth} levels below the cell: 4**{depth} children would not "
            f"fit in memory; ask for at most {_MAX_CHILD_DEPTH} levels below the cell"
        )
    face, i, j = _face_ij(array)
    side = 1 << depth
    shift = MAX_LEVEL - level
    # The cell's (i, j) at its own level, scaled to the children's level.
    i0 = (i[0] >> (MAX_LEVEL - parent_level)) << depth
    j0 = (j[0] >> (MAX_LEVEL - parent_level)) << depth
    rows, cols = np.divmod(np.arange(side * side, dtype=np.int64), side)
    out = np.empty(side * side, dtype=np.int64)
    kernels.face_ij_to_cells(
        np.full(out.shape, face[0]), (i0 + rows) << shift, (j0 + cols) << shift, level, out
    )
    return out


def token_bytes(cells: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return the tokens of cells as ASCII bytes end to end, and ``n + 1`` offsets into them.

    Token ``k`` is ``data[offsets[k]:offsets[k + 1]]``: the layout of an Arrow
    string array, so string columns are built without a Python string per cell.

    Examples
    --------
    >>> data, offsets = token_bytes(token_to_cell(["89c25a3", "1"]))
    >>> bytes(data), offsets.tolist()
    (b'89c25a31', [0, 7, 8])
    """
    from s2vec_geo.s2 import kernels

    array = as_cells(cells)
    lsb = array.view(np.uint64) & (~array.view(np.uint64) + np.uint64(1))
    _, exponent = np.frexp(lsb.astype(np.float64))  # exact on powers of two
    offsets = np.zeros(array.size + 1, dtype=np.int64)
    np.cumsum(16 - (exponent.astype(np.int64) - 1) // 4, out=offsets[1:])  # no trailing zeros
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    kernels.cells_to_tokens(array, offsets, data)
    return data, offsets


@scalars_in_out("cells")
def cell_to_token(cells: Any) -> np.ndarray | str:
    """Return the S2 token of each cell: its hex id without trailing zeros.

    Examples
    --------
    >>> cell_to_token(token_to_cell(["89c25a3", "1"]))
    array(['89c25a3', '1'], dtype='<U16')
    >>> cell_to_token(-8520148382826627072)
    '89c25a3'
    """
    data, offsets = token_bytes(cells)
    chars = np.zeros((len(offsets) - 1, 16), dtype=np.uint8)  # NUL padding: dropped by S16
    chars[np.arange(16) < np.diff(offsets)[:, None]] = data
    return chars.view("S16").ravel().astype("U16")


@scalars_in_out("tokens")
def token_to_cell(tokens: Any) -> np.ndarray | np.int64:
    """Return the cell ids of S2 tokens (hex, trailing zeros dropped, any case).

    Raises
    ------
    ValueError
        For anything that is not the token of a valid cell (e.g. ``"X"``,
        the token of the invalid id 0).

    Examples
    --------
    >>> print(token_to_cell("89c25a3"))
    -8520148382826627072
    >>> token_to_cell(["89c25a3"])
    array([-8520148382826627072])
    """
    array = np.asarray(tokens)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.shape == (0,):
        return np.empty(0, dtype=np.int64)
    is_text = array.dtype.kind == "U" or (
        array.dtype == object and all(isinstance(t, str) for t in array)
    )
    if array.ndim != 1 or not is_text:
        raise ValueError(
            "tokens must be a string or a 1-D array of strings (S2 tokens such as '89c25a3'); "
            "for integer ids use the ids directly"
        )
    text = array.astype(str)
    lengths = np.char.str_len(text) if text.dtype.itemsize > 64 else None
    codes = text.astype("U16").view(np.uint32).reshape(array.size, 16)
    if lengths is None:
        lengths = (codes != 0).sum(axis=1)
    bad_length = (lengths < 1) | (lengths > 16)
    if bad_length.any():
        bad = np.flatnonzero(bad_length)
        raise ValueError(
            f"{bad.size} of {array.size} tokens are not 1-16 hex digits "
            f"(e.g. {str(array[bad[0]])!r}); S2 tokens are ids in hex without trailing zeros"
        )
    values = _HEX_VALUES[np.minimum(codes, 255)]
    # A NUL is only the fixed-width padding after the token's last character.
    bad_rows = (values < 0).any(axis=1) | (codes > 255).any(axis=1)
    filled = codes != 0
    bad_rows |= (filled[:, 1:] & ~filled[:, :-1]).any(axis=1)
    if bad_rows.any():
        bad = np.flatnonzero(bad_rows)
        raise ValueError(
            f"{bad.size} of {array.size} tokens contain characters other than hex digits "
            f"(e.g. {str(array[bad[0]])!r}); S2 tokens look like '89c25a3'"
        )
    ids = np.zeros(array.size, dtype=np.uint64)
    for position, shift in enumerate(_NIBBLE_SHIFTS):
        ids |= values[:, position].astype(np.uint64) << shift
    ids = ids.view(np.int64)
    try:
        return as_cells(ids)
    except ValueError as exc:
        raise ValueError(f"tokens decode to invalid cells: {exc}") from None
