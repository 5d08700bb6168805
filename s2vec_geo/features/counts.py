"""Sparse per-cell counts: ``(cell, code, value)`` rows, summed by a sort, scattered into layers.

Featurizing is a sum of per-cell histograms. Every kind of feature (POIs,
road lengths, building areas, ...) is counted as sparse rows of int64 cell
ids, int64 codes (the position of the feature's category in its column
list) and values; rows of several chunks add up (:func:`sum_counts`), and
:func:`scatter` writes them into the dense columns of a cell layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CellCounts = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Sparse per-cell counts: (int64 cell ids, int64 codes, values), one row per (cell, code)."""


def empty_counts(dtype: type = np.float64) -> CellCounts:
    """No counts at all.

    Examples
    --------
    >>> [len(a) for a in empty_counts()]
    [0, 0, 0]
    """
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, dtype)


def group_sum(
    cells: np.ndarray,
    codes: np.ndarray,
    weights: np.ndarray | None = None,
    level: int | None = None,
) -> CellCounts:
    """Sum ``weights`` (default: count rows) per (cell, code), sorted; no ``np.unique``.

    With ``level`` given and the codes small enough, each code is packed into
    the low bits of its level-``level`` cell id (bits below the id's trailing 1
    are zero), so one 64-bit sort does the work; otherwise a lexsort.

    Examples
    --------
    >>> c = np.array([4611686018427387904] * 3)
    >>> [a.tolist() for a in group_sum(c, np.array([1, 0, 1]), level=12)]
    [[4611686018427387904, 4611686018427387904], [0, 1], [1, 2]]
    """
    if len(cells) == 0:
        return cells, codes, np.zeros(0, np.float64 if weights is not None else np.int64)
    free_bits = 0 if level is None else 2 * (30 - level)
    if free_bits > 0 and int(codes.max()) < (1 << free_bits) and int(codes.min()) >= 0:
        # signed keys sort by cell id as int64, then by code: the order of the lexsort below
        from s2vec_geo.features.counts_kernel import sum_runs

        keys = cells | codes
        if weights is None:
            unique, sums = sum_runs(np.sort(keys), np.broadcast_to(np.int64(1), keys.shape))
        else:
            order = np.argsort(keys)
            unique, sums = sum_runs(keys[order], weights[order])
        low = np.int64((1 << free_bits) - 1)
        return unique & ~low, unique & low, sums
    order = np.lexsort((codes, cells))
    c, k = cells[order], codes[order]
    weights = None if weights is None else weights[order]
    start = np.flatnonzero(np.r_[True, (c[1:] != c[:-1]) | (k[1:] != k[:-1])])
    sums = np.diff(np.r_[start, len(cells)]) if weights is None else np.add.reduceat(weights, start)
    return c[start], k[start], sums


def sum_counts(parts: Sequence[CellCounts], level: int) -> CellCounts:
    """Sum partial ``(cell, code, value)`` counts of several chunks per (cell, code).

    Counting is a sum, so chunks of features may be counted apart (by
    :func:`s2vec_geo.features.featurize.count_chunk`, on other processes or machines)
    and summed here.

    Examples
    --------
    >>> c = np.array([4611686018427387904])
    >>> sum_counts([(c, np.array([1]), np.array([2.0]))] * 2, level=30)[2].tolist()
    [4.0]
    """
    return group_sum(*(np.concatenate(p) for p in zip(*parts, strict=True)), level=level)


def scatter(block: np.ndarray, cells: np.ndarray, counts: CellCounts) -> None:
    """Write unique ``(cell, column, value)`` rows into ``block`` rows of the sorted ``cells``.

    Rows of cells not in ``cells`` (outside an area of interest) are left out.

    Examples
    --------
    >>> block = np.zeros((2, 3), np.int32)
    >>> scatter(block, np.array([5, 9]), (np.array([9, 7]), np.array([2, 0]), np.array([4, 1])))
    >>> block.tolist()
    [[0, 0, 0], [0, 0, 4]]
    """
    from s2vec_geo.features.counts_kernel import scatter_rows

    at, column, value = counts
    if len(at):
        scatter_rows(block, cells, at, column, value)  # 4x faster than fancy indexing


def category_codes(values: pd.Series, names: Sequence[str], kind: str) -> np.ndarray:
    """Position of each row's category in ``names``; unknown names are an error.

    Only the categories the rows hold matter: a Categorical may declare more
    (e.g. one dtype shared by POI categories and road classes).

    Examples
    --------
    >>> category_codes(pd.Series(["b", "a", "b"]), ["a", "b"], "POI").tolist()
    [1, 0, 1]
    """
    if isinstance(values.dtype, pd.CategoricalDtype):  # no per-row strings needed
        factor, uniques = values.cat.codes.to_numpy(), values.cat.categories.astype(str)
    else:
        factor, uniques = pd.factorize(values.astype(str))
    if (factor < 0).any():
        raise ValueError(f"{kind} features with a missing category; drop or name them first")
    position = pd.Index(list(names)).get_indexer(uniques).astype(np.int64)
    unknown_at = position < 0
    if unknown_at.any():  # declared by a Categorical, or in the rows?
        unknown_at &= np.bincount(factor, minlength=len(uniques)) > 0
    if unknown_at.any():
        unknown = sorted(str(u) for u in uniques[unknown_at])
        raise ValueError(
            f"{kind} categories {unknown[:5]} are not in the feature list {list(names)[:5]}...; "
            "featurize with the taxonomy the features were read with (taxonomy=...)"
        )
    return position[factor]
