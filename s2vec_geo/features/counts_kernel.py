"""The numba kernel of :func:`s2vec_geo.features.counts.scatter`.

Imported on first use (numba takes a while to load), as :mod:`s2vec_geo.s2.kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def scatter_rows(
    block: np.ndarray, cells: np.ndarray, at: np.ndarray, column: np.ndarray, value: np.ndarray
) -> None:
    """``block[row of at[k] in cells, column[k]] = value[k]``; ``at`` outside ``cells`` skipped.

    ``cells`` are sorted; counts sorted by cell (as group-bys give them) are
    merged in one pass, others found by binary search.
    """
    n = cells.shape[0]
    row = 0
    for k in range(at.shape[0]):
        cell = at[k]
        if k == 0 or cell != at[k - 1]:  # a new cell: find its row
            if k == 0 or cell < at[k - 1]:
                row = np.searchsorted(cells, cell)
            while row < n and cells[row] < cell:
                row += 1
        if row < n and cells[row] == cell:
            block[row, column[k]] = value[k]


@njit(cache=True)
def sum_runs(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each run of equal values of sorted ``keys`` once, and the sum of its ``weights``.

    Weights of ones (``np.broadcast_to(1, n)``, no memory) count the run.
    """
    unique = np.empty(keys.shape[0], keys.dtype)
    sums = np.zeros(keys.shape[0], weights.dtype)
    m = -1
    for k in range(keys.shape[0]):
        if k == 0 or keys[k] != keys[k - 1]:
            m += 1
            unique[m] = keys[k]
        sums[m] += weights[k]
    return unique[: m + 1], sums[: m + 1]
