"""Train / validation / test splits: random (paper: 20 x 60/20/20), spatial hold-out
and leave-one-area-out.

A split is three disjoint arrays of row positions into the aligned label
table. Random splits shuffle all rows (or whole blocks of rows); a spatial
hold-out split keeps a whole sub-region (bounding box, polygon or list of
cells) as the test set in every run, never seen in training or validation
(the paper's "zero-shot geographic adaptation"), and shuffles only the
remaining rows into train and validation. Leave-one-area-out splits
(:func:`area_splits`) hold out each of several areas in turn.
A cell belongs to a geometric region when its centre lies inside it, so every
cell is on exactly one side of the boundary.
"""

from __future__ import annotations

from typing import NamedTuple

import geopandas as gpd
import numpy as np
import shapely

from s2vec_geo.s2 import cell_level, cell_parent, cell_to_latlng

#: A spatial region: ``(minx, miny, maxx, maxy)`` in lon/lat degrees, a shapely
#: geometry in EPSG:4326, a GeoSeries/GeoDataFrame in any CRS, or S2 cell ids.
Region = tuple[float, float, float, float] | shapely.Geometry | gpd.GeoSeries | np.ndarray


class Split(NamedTuple):
    """Row positions of one train / validation / test split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or min(fractions) <= 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"split fractions {fractions!r} must be three positive numbers summing to 1, "
            "e.g. (0.6, 0.2, 0.2)"
        )
    return fractions


def _check_n_splits(n_splits: int) -> int:
    if int(n_splits) < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}; the paper uses 20")
    return int(n_splits)


def random_splits(
    n: int,
    n_splits: int = 20,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> list[Split]:
    """Independent random train / validation / test splits of ``n`` rows.

    Parameters
    ----------
    n
        Number of rows (labelled cells).
    n_splits
        Number of independent splits (paper: 20).
    fractions
        Train, validation and test fractions (paper: 60/20/20).
    seed
        Seed; split ``i`` depends only on ``seed`` and ``i``.
    groups
        Optional group label per row (e.g. each cell's ancestor at a coarser
        level): whole groups are shuffled into the parts, filled in turn up to
        the fractions of rows, so no group straddles train and test. Labels
        that are constant over areas larger than a cell (census tracts) then
        cannot leak from a cell to its neighbour across the split.

    Returns
    -------
    list of Split
        Sorted, disjoint index arrays covering ``range(n)``.

    Examples
    --------
    >>> s = random_splits(10, n_splits=2, seed=1)
    >>> [len(part) for part in s[0]]
    [6, 2, 2]
    """
    fractions = _check_fractions(fractions)
    n_splits = _check_n_splits(n_splits)
    n_train = round(n * fractions[0])
    n_val = round(n * fractions[1])
    if n_train < 1 or n_val < 1 or n - n_train - n_val < 1:
        raise ValueError(
            f"{n} labelled cells are too few for a {fractions} split; every part needs at "
            "least one cell: use a finer cell level or a larger labelled area"
        )
    if groups is not None:
        return _group_splits(np.asarray(groups), n_splits, (n_train, n_val), seed)
    splits = []
    for child in np.random.SeedSequence(seed).spawn(n_splits):
        order = np.random.default_rng(child).permutation(n)
        parts = np.split(order, [n_train, n_train + n_val])
        splits.append(Split(*(np.sort(p) for p in parts)))
    return splits


def _group_splits(
    groups: np.ndarray, n_splits: int, sizes: tuple[int, int], seed: int
) -> list[Split]:
    """Random splits of whole groups, the parts filled in turn to ``sizes`` rows."""
    labels, inverse, counts = _unique_groups(groups, 3, "the labelled cells", "block splits")
    splits = []
    for child in np.random.SeedSequence(seed).spawn(n_splits):
        order = np.random.default_rng(child).permutation(labels.size)
        part = _fill_parts(counts[order], sizes)
        part[0], part[-1] = 0, 2  # every part keeps at least one group
        if not (part == 1).any():
            part[-2] = 1
        rows = _part_of_rows(part, order, inverse)
        splits.append(Split(*(np.flatnonzero(rows == k) for k in range(3))))
    return splits


def _unique_groups(
    groups: np.ndarray, at_least: int, rows: str, parts: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups, each row's group number and rows per group; too few groups is an error."""
    labels, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if labels.size < at_least:
        raise ValueError(
            f"{rows} fall in {labels.size} group(s); {parts} need at least {at_least}: "
            "use a finer block level"
        )
    return labels, inverse, counts


def _fill_parts(counts: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """Part of each group, groups in the given order with ``counts`` rows each.

    A group goes to part 0 while the rows before it are fewer than
    ``sizes[0]``, then to part 1 while they are fewer than ``sizes[0] +
    sizes[1]``, and so on; the rest go to part ``len(sizes)``.
    """
    ends = np.cumsum(counts)
    return np.searchsorted(np.cumsum(sizes), ends - counts, "right")


def _part_of_rows(part: np.ndarray, order: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """Part of every row, from the part of each group in shuffled ``order``."""
    of_group = np.empty(order.size, dtype=np.int64)
    of_group[order] = part
    return of_group[inverse]


def area_splits(
    areas: np.ndarray,
    cells: np.ndarray,
    groups: np.ndarray,
    n_splits: int = 20,
    val_fraction: float = 0.25,
    seed: int = 0,
) -> list[list[Split]]:
    """Leave-one-area-out splits: each area in turn is the test set of ``n_splits`` runs.

    In the runs of area ``k`` the test rows are all of area ``k``'s rows; the
    other areas' rows are shuffled into training and validation by whole
    groups (e.g. the cells' ancestors at a coarser S2 level), about
    ``val_fraction`` of those rows to validation, anew for every run. Rows
    of other areas whose cell is also one of area ``k``'s cells (overlapping
    areas) are left out of that area's runs, so no test cell is ever trained
    or validated on.

    Parameters
    ----------
    areas
        Area number (0, 1, ...) of every row.
    cells
        int64 cell id of every row.
    groups
        Group of every row (whole groups go to training or validation).
    n_splits
        Runs per area.
    val_fraction
        Share of the training areas' rows used for validation / early stopping.
    seed
        Seed; the runs of area ``k`` depend only on ``seed``, ``k`` and the rows.

    Returns
    -------
    list of list of Split
        ``splits[k][i]``: run ``i`` with area ``k`` held out.

    Examples
    --------
    >>> areas = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    >>> s = area_splits(areas, np.arange(8), np.arange(8) // 2, n_splits=1)
    >>> s[1][0].test.tolist(), sorted(s[1][0].train.tolist() + s[1][0].val.tolist())
    ([3, 4, 5], [0, 1, 2, 6, 7])
    """
    n_splits = _check_n_splits(n_splits)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    areas, cells, groups = np.asarray(areas), np.asarray(cells), np.asarray(groups)
    numbers = np.unique(areas)
    if numbers.size < 2:
        raise ValueError("leave-one-area-out needs at least 2 areas; add an area")
    folds = []
    for k, child in zip(numbers, np.random.SeedSequence(seed).spawn(numbers.size), strict=True):
        test = np.flatnonzero(areas == k)
        pool = np.flatnonzero((areas != k) & ~np.isin(cells, cells[test]))
        folds.append(_pool_splits(test, pool, groups[pool], n_splits, val_fraction, child))
    return folds


def _pool_splits(
    test: np.ndarray,
    pool: np.ndarray,
    groups: np.ndarray,
    n_splits: int,
    val_fraction: float,
    seed: np.random.SeedSequence,
) -> list[Split]:
    """Runs with a fixed test set; ``pool`` rows go to train / validation by whole groups."""
    who = f"the training areas' {pool.size} labelled cells"
    labels, inverse, counts = _unique_groups(groups, 2, who, "training and validation")
    n_train = pool.size - max(round(pool.size * val_fraction), 1)
    splits = []
    for child in seed.spawn(n_splits):
        order = np.random.default_rng(child).permutation(labels.size)
        part = _fill_parts(counts[order], (n_train,))
        part[0], part[-1] = 0, 1  # training and validation keep at least one group each
        rows = _part_of_rows(part, order, inverse)
        splits.append(Split(pool[rows == 0], pool[rows == 1], test))
    return splits


def region_mask(cells: np.ndarray, region: Region) -> np.ndarray:
    """Boolean mask of the cells inside a region.

    Parameters
    ----------
    cells
        int64 S2 cell ids.
    region
        ``(minx, miny, maxx, maxy)`` in longitude/latitude degrees; a shapely
        geometry in EPSG:4326; a GeoSeries/GeoDataFrame in any CRS (the union
        of its geometries); or an array of S2 cell ids (a cell is inside when
        it or one of its ancestors is listed). Geometric regions test the cell
        centre.

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> cells = latlng_to_cell([40.70, 40.80], [-74.0, -73.95], 15)
    >>> region_mask(cells, (-74.1, 40.6, -73.97, 40.75)).tolist()
    [True, False]
    """
    cells = np.asarray(cells, dtype=np.int64)
    if isinstance(region, np.ndarray) or (
        isinstance(region, list) and region and isinstance(region[0], (int, np.integer))
    ):
        listed = np.asarray(region, dtype=np.int64)
        if listed.size == 0:
            raise ValueError("the hold-out cell list is empty; pass at least one S2 cell id")
        level = cell_level(cells)
        listed_levels = cell_level(listed)
        mask = np.zeros(cells.size, dtype=bool)
        for lev in np.unique(listed_levels):
            if lev > level.max():
                raise ValueError(
                    f"hold-out cells of level {lev} are finer than the evaluated cells "
                    f"(level {level.max()}); list cells of the evaluation level or coarser"
                )
            ok = level >= lev
            anc = cell_parent(cells[ok], int(lev))
            mask[np.flatnonzero(ok)[np.isin(anc, listed[listed_levels == lev])]] = True
        return mask
    geom = _region_geometry(region)
    lat, lng = cell_to_latlng(cells)
    return shapely.contains_xy(geom, lng, lat)


def _region_geometry(region: Region) -> shapely.Geometry:
    if isinstance(region, (gpd.GeoSeries, gpd.GeoDataFrame)):
        if region.crs is None:
            raise ValueError("the hold-out region has no CRS; set one, e.g. region.set_crs(4326)")
        return shapely.union_all(region.to_crs(4326).geometry.values)
    if isinstance(region, shapely.Geometry):
        return region
    box = tuple(float(v) for v in region)
    if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
        raise ValueError(
            f"hold-out bounding box {region!r} must be minx,miny,maxx,maxy in lon/lat "
            "degrees with minx < maxx and miny < maxy"
        )
    return shapely.box(*box)


def holdout_splits(
    cells: np.ndarray,
    region: Region,
    n_splits: int = 20,
    val_fraction: float = 0.25,
    seed: int = 0,
) -> list[Split]:
    """Spatial hold-out splits: the region's cells are the test set of every split.

    The cells outside the region are shuffled into train and validation anew
    for each split (``val_fraction`` of them to validation), so the runs differ
    by initialisation and by the train/validation partition only.

    Parameters
    ----------
    cells
        int64 cell ids of the labelled cells, in row order.
    region
        See :func:`region_mask`.
    n_splits
        Number of runs.
    val_fraction
        Fraction of the non-test cells used for validation / early stopping.
    seed
        Seed of the train/validation shuffles.

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> cells = latlng_to_cell([40.70, 40.71, 40.72, 40.80, 40.81], [-74.0] * 5, 16)
    >>> s = holdout_splits(cells, (-74.1, 40.75, -73.9, 40.9), n_splits=1)
    >>> s[0].test.tolist()
    [3, 4]
    """
    n_splits = _check_n_splits(n_splits)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    inside = region_mask(cells, region)
    test = np.flatnonzero(inside)
    rest = np.flatnonzero(~inside)
    n_val = round(rest.size * val_fraction)
    if test.size == 0:
        raise ValueError(
            "no labelled cell lies inside the hold-out region; check that the region is in "
            "lon/lat order minx,miny,maxx,maxy and overlaps the labelled cells"
        )
    if n_val < 1 or rest.size - n_val < 1:
        raise ValueError(
            f"only {rest.size} labelled cells lie outside the hold-out region; shrink the "
            "region so that training and validation cells remain"
        )
    splits = []
    for child in np.random.SeedSequence(seed).spawn(n_splits):
        order = np.random.default_rng(child).permutation(rest)
        splits.append(Split(np.sort(order[n_val:]), np.sort(order[:n_val]), test))
    return splits
