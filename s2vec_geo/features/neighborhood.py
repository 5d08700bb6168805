"""Sums of features over square neighbourhoods of same-level cells: context without a model.

A cell's neighbourhood of radius ``r`` is the ``(2r + 1) x (2r + 1)`` block of
cells of its level centred on it in S2 (i, j) space on its cube face: the same
lattice the images use (:mod:`s2vec_geo.images`), so the neighbours are true S2
neighbours and a window never crosses a cube-face edge. Summing a cell layer's
feature columns over such blocks at a few radii gives *multi-scale
neighbourhood counts*, the baseline a contextual embedding has to beat
(:func:`s2vec_geo.evaluate`), and neighbourhood smoothing of any layer, as
h3pandas' k-ring aggregation does for H3.

Cells absent from the layer count zero. The sums are exact: each is a
difference of prefix sums along a row of the lattice (cells sorted by face,
``i``, ``j``), added over the ``2r + 1`` rows, so the work grows with
``cells x (2r + 1) x features``, not with the block's area.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from s2vec_geo.core.schema import CELL_ID, feature_columns, int64_ids
from s2vec_geo.s2 import cell_face_ij, single_level

_I_SHIFT = np.int64(30)  # key = face << 60 | i << 30 | j: (i, j) < 2**30 at every level
_FACE_SHIFT = np.int64(60)


def _keys(face: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """One sortable int64 per lattice position: by face, then row ``i``, then column ``j``."""
    return (face.astype(np.int64) << _FACE_SHIFT) | (i << _I_SHIFT) | j


def neighborhood_sums(cells: np.ndarray, values: np.ndarray, radius: int) -> np.ndarray:
    """Sum ``values`` over each cell's ``(2 radius + 1)``-square block of same-level cells.

    Parameters
    ----------
    cells
        S2 cell ids (uint64 or int64), all of one level, no duplicates.
    values
        ``(n_cells, n_features)`` (or ``(n_cells,)``) values of those cells.
    radius
        Half-width of the block in cells: 0 returns ``values``, 1 sums the
        3 x 3 block (the cell and its 8 neighbours), 2 the 5 x 5 block.

    Returns
    -------
    numpy.ndarray
        float64 array shaped like ``values``: the block sums, the cell included.

    Examples
    --------
    >>> import numpy as np, s2vec_geo as sv
    >>> a = sv.latlng_to_cell(60.17, 24.94, 16)
    >>> below, _, above, _ = sv.cell_edge_neighbors(a)  # opposite edge neighbours
    >>> cells = np.array([a, below, above])
    >>> neighborhood_sums(cells, np.array([1.0, 10.0, 100.0]), 1).tolist()
    [111.0, 11.0, 101.0]
    """
    cells = np.asarray(cells).astype(np.uint64)
    x = np.asarray(values, dtype=np.float64)
    if x.shape[0] != cells.shape[0]:
        raise ValueError(f"{x.shape[0]} value rows for {cells.shape[0]} cells; give one row a cell")
    if int(radius) < 0:
        raise ValueError(f"radius must be >= 0 cells, got {radius}")
    if cells.size == 0 or radius == 0:
        return x.copy()
    level = single_level(cells, "neighbourhood sums need cells of one level; got levels {levels}")
    face, i, j = cell_face_ij(cells)
    keys = _keys(face, i, j)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if (np.diff(sorted_keys) == 0).any():
        raise ValueError("the cells hold duplicates; aggregate them first (one row a cell)")
    flat = x.reshape(len(x), -1)[order]
    # prefix[k] = sum of the first k cells in (face, i, j) order; a run of one row's
    # cells between two columns is then prefix[hi] - prefix[lo].
    prefix = np.zeros((len(flat) + 1, flat.shape[1]))
    np.cumsum(flat, axis=0, out=prefix[1:])
    side = np.int64(1) << np.int64(level)
    r = np.int64(radius)
    j_lo = np.maximum(j - r, 0)  # the block's columns, clipped to the face
    j_hi = np.minimum(j + r, side - 1)
    out = np.zeros_like(flat)
    for di in range(-int(radius), int(radius) + 1):
        row = i + di
        inside = (row >= 0) & (row < side)  # rows beyond the face edge hold no cells
        lo = np.searchsorted(sorted_keys, _keys(face, row, j_lo)[inside], side="left")
        hi = np.searchsorted(sorted_keys, _keys(face, row, j_hi)[inside], side="right")
        out[inside] += prefix[hi] - prefix[lo]  # rows of out follow the input order
    return out.reshape(x.shape)


DEFAULT_RADII = (2, 5)
"""Radii of :func:`multiscale_counts`: 5 x 5 and 11 x 11 blocks (about 0.75 and 1.6 km at
level 16)."""


def multiscale_counts(cells: pd.DataFrame, radii: Sequence[int] = DEFAULT_RADII) -> pd.DataFrame:
    """Each cell's own feature counts and their sums over blocks of neighbours at ``radii``.

    The multi-scale neighbourhood counts baseline of :func:`s2vec_geo.evaluate`:
    as much context as an embedding sees, with nothing learned.

    Parameters
    ----------
    cells
        Featurized cells (``s2vec featurize``), indexed by int64 ``cell_id``
        (or with such a column), one S2 level.
    radii
        Block half-widths in cells (see :func:`neighborhood_sums`), each >= 1.

    Returns
    -------
    pandas.DataFrame
        Indexed like the cells: the feature columns, then ``<feature>_r<radius>``
        for every radius, float64 sums (no transform).

    Examples
    --------
    >>> import numpy as np, pandas as pd, s2vec_geo as sv
    >>> ids = sv.cell_children(sv.latlng_to_cell(60.17, 24.94, 14), 16)
    >>> cells = pd.DataFrame({"shop": np.ones(16)}, index=pd.Index(ids.astype(np.int64),
    ...                      name="cell_id"))
    >>> out = multiscale_counts(cells, radii=(1,))
    >>> list(out.columns), sorted(set(out["shop_r1"]))   # corners see 4 cells, inner ones 9
    (['shop', 'shop_r1'], [4.0, 6.0, 9.0])
    """
    bad = [r for r in radii if int(r) < 1]
    if not radii or bad:
        raise ValueError(f"radii must be one or more block half-widths >= 1 cell, got {radii}")
    frame = cells.set_index(CELL_ID) if CELL_ID in cells.columns else cells
    columns = feature_columns(frame)
    if not columns:
        raise ValueError("the cells have no numeric feature columns; use s2vec featurize")
    ids = int64_ids(frame.index.to_numpy())
    values = frame[columns].to_numpy(np.float64)
    parts = {c: values[:, k] for k, c in enumerate(columns)}
    for radius in radii:
        sums = neighborhood_sums(ids, values, int(radius))
        parts.update({f"{c}_r{int(radius)}": sums[:, k] for k, c in enumerate(columns)})
    return pd.DataFrame(parts, index=pd.Index(ids, name=CELL_ID))
