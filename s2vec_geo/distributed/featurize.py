"""Featurize on Dask: a sum of per-cell histograms, as map and reduce.

1. **map**: every input partition (a file of a list of sources, or a
   partition of a dask-geopandas frame) is counted by the single-machine code
   (:func:`s2vec_geo.features.featurize.count_chunk`) into sparse partial counts: rows of
   ``(cell_id, feature, value)``, written to a scratch folder sorted by cell.
   Workers keep nothing in memory between the steps.
2. **partition**: output partitions are ranges of level-6 ancestor cells in S2
   (Hilbert) order (:mod:`.partitions`), sized from a histogram the map tasks
   return so that a reduce task works in about :data:`PARTITION_BYTES`.
3. **reduce**: each output partition reads its slice of every map output,
   sums the partial counts by cell (:func:`s2vec_geo.features.featurize.cells_layer`
   builds the same layer as :func:`s2vec_geo.featurize`) and writes one
   GeoParquet file.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import geopandas as gpd
import numpy as np
import pandas as pd
from distributed import Client

from s2vec_geo.core.schema import CELL_ID
from s2vec_geo.distributed.cluster import dask_client, log_phase, run_tasks, scratch_folder
from s2vec_geo.distributed.partitions import (
    BUCKET_SHIFT,
    N_BUCKETS,
    PARTITION_LEVEL,
    buckets_of,
    new_folder,
    write_manifest,
)
from s2vec_geo.features.counts import sum_counts
from s2vec_geo.features.cut import DEFAULT_MAX_CELLS_PER_POLYGON
from s2vec_geo.features.featurize import as_features, cells_layer, count_chunk, feature_lists
from s2vec_geo.ingest.osm_parquet import input_parts
from s2vec_geo.ingest.taxonomy.tags import FeatureLists, taxonomy_for
from s2vec_geo.io.layers import atomic_path, write_layer
from s2vec_geo.s2 import validate_level
from s2vec_geo.s2.cover import sorted_unique

PARTITION_BYTES = 256 * 2**20
"""Default working set of a reduce task: output partitions hold about this much."""
_COUNT_BYTES = 64  # a partial count read, sorted and summed
_FEATURE_BYTES = 16  # a feature of a cell in the dense layer and in its GeoParquet copy
_CELL_BYTES = 400  # a cell's id, token and polygon
_KINDS = (
    "points",
    "road_counts",
    "road_lengths",
    "building_counts",
    "building_areas",
    "building_floor_areas",
    "landuse_areas",
)
_COLUMNS = (CELL_ID, "kind", "code", "value")


def _map_counts(
    features: Any,
    lists: FeatureLists,
    level: int,
    read_kw: dict[str, Any],
    folder: Path,
    max_cells_per_polygon: int | None = DEFAULT_MAX_CELLS_PER_POLYGON,
) -> tuple[np.ndarray, np.ndarray]:
    """Map step: count one input, write its partial counts to ``folder``.

    The counts are written as one ``.npy`` file per column, sorted by cell id
    in S2 (unsigned) order, so that a reduce task reads only the slice of
    the cells it owns. Returns the used level-6 buckets and, per bucket, the
    number of partial counts and of cells (rows 0 and 1).
    """
    counted = count_chunk(as_features(features, read_kw), lists, level, max_cells_per_polygon)
    cells = np.concatenate([c for c, _, _ in counted]).view(np.uint64)
    order = np.argsort(cells, kind="stable")
    kinds = np.repeat(np.arange(len(_KINDS), dtype=np.int8), [len(c) for c, _, _ in counted])
    columns = {
        CELL_ID: cells[order],
        "kind": kinds[order],
        "code": np.concatenate([k for _, k, _ in counted]).astype(np.int32)[order],
        "value": np.concatenate([v for _, _, v in counted]).astype(np.float64)[order],
    }
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        for name, values in columns.items():
            np.save(tmp / f"{name}.npy", values)
    buckets = buckets_of(columns[CELL_ID])
    first = np.r_[True, columns[CELL_ID][1:] != columns[CELL_ID][:-1]]
    used, start = np.unique(buckets, return_index=True)
    n_counts = np.diff(np.r_[start, len(buckets)])
    n_cells = np.add.reduceat(first.astype(np.int64), start) if len(start) else n_counts
    return used.astype(np.int64), np.stack([n_counts, n_cells])


def _bucket_bytes(histogram: np.ndarray, level: int, n_features: int) -> np.ndarray:
    """Estimated reduce working set of each bucket, from its partial counts and cells.

    Cells found by several map tasks are counted once per task, but a bucket
    holds at most ``4 ** (level - PARTITION_LEVEL)`` cells.
    """
    counts, cells = histogram
    cells = np.minimum(cells, 4 ** max(level - PARTITION_LEVEL, 0))
    return counts * _COUNT_BYTES + cells * (_CELL_BYTES + n_features * _FEATURE_BYTES)


def _ranges(weight: np.ndarray, npartitions: int | None) -> list[tuple[int, int]]:
    """Balanced ``[first, stop)`` ranges of used buckets, one per output partition.

    ``npartitions`` ranges (default: one per ``PARTITION_BYTES`` of ``weight``),
    or one per used bucket when there are fewer.
    """
    used = np.flatnonzero(weight)
    total = int(weight.sum())
    n = min(npartitions or max(1, -(-total // PARTITION_BYTES)), len(used))
    before = np.cumsum(weight[used]) - weight[used]  # weight ahead of each bucket
    cuts = set(np.searchsorted(before, total * np.arange(1, n) / n).clip(1, len(used) - 1))
    # a bucket too big to split leaves fewer cuts: cut before other used buckets instead
    spare = [i for i in range(1, len(used)) if i not in cuts]
    cuts.update(spare[: n - 1 - len(cuts)])
    bounds = [0, *sorted(int(c) for c in cuts), len(used)]
    return [(int(used[a]), int(used[b - 1]) + 1) for a, b in itertools.pairwise(bounds)]


def _read_range(folders: Sequence[Path], buckets: tuple[int, int]) -> dict[str, np.ndarray]:
    """The partial counts of the cells in a bucket range, from every map output."""
    lo, hi = (np.uint64(b) << np.uint64(BUCKET_SHIFT) for b in buckets)
    pieces: dict[str, list[np.ndarray]] = {name: [] for name in _COLUMNS}
    for folder in folders:
        cells = np.load(folder / f"{CELL_ID}.npy", mmap_mode="r")
        a, b = np.searchsorted(cells, [lo, hi])
        for name in _COLUMNS:
            pieces[name].append(np.array(np.load(folder / f"{name}.npy", mmap_mode="r")[a:b]))
    return {name: np.concatenate(parts) for name, parts in pieces.items()}


def _reduce(
    folders: Sequence[Path], buckets: tuple[int, int], lists: FeatureLists, level: int
) -> gpd.GeoDataFrame:
    """Reduce step: sum the partial counts of one bucket range into a cell layer."""
    part = _read_range(folders, buckets)
    cells, kind = part[CELL_ID].view(np.int64), part["kind"]
    sums = []
    for k in range(len(_KINDS)):
        sel = kind == k
        codes = part["code"][sel].astype(np.int64)
        sums.append(sum_counts([(cells[sel], codes, part["value"][sel])], level))
    owned = sorted_unique(np.concatenate([cell for cell, _, _ in sums]))
    return cells_layer(owned, sums, lists, level)


def _write_part(
    folders: Sequence[Path],
    buckets: tuple[int, int],
    lists: FeatureLists,
    level: int,
    path: Path,
) -> dict[str, Any]:
    layer = _reduce(folders, buckets, lists, level)
    write_layer(layer, path)
    return {"file": path.name, "n_cells": len(layer), "buckets": [int(b) for b in buckets]}


def _as_inputs(sources: Any) -> tuple[list[Any] | None, Any]:
    """(list of paths/frames, or None) and the dask frame when given one."""
    if isinstance(sources, dd.DataFrame):
        return None, sources
    if isinstance(sources, (str, os.PathLike, gpd.GeoDataFrame)):
        sources = [sources]
    items = list(sources)
    if not items:
        raise ValueError("no sources given; pass one or more feature files or frames")
    for item in items:
        if isinstance(item, (str, os.PathLike)) and not Path(item).exists():
            raise FileNotFoundError(f"input {str(item)!r} does not exist; check the path")
    # a folder of QuackOSM GeoParquet files: one map task per file
    return [part for item in items for part in input_parts(item)], None


def _is_frame(item: Any) -> bool:
    return isinstance(item, pd.DataFrame)


def _categories(features: Any, taxonomy: Any, read_kw: dict[str, Any]) -> FeatureLists:
    """The feature lists one input implies (its own categories without a taxonomy)."""
    return feature_lists(as_features(features, read_kw), taxonomy)


def _merge_lists(found: Sequence[FeatureLists]) -> FeatureLists:
    versions = {f.version for f in found}
    if len(versions) > 1:
        raise ValueError(
            f"the inputs were classified with different taxonomies {sorted(map(str, versions))}; "
            "read them all with the same taxonomy"
        )
    kinds = ("pois", "roads", "nodes", "buildings", "landuse")
    merged = {k: tuple(sorted(set().union(*(getattr(f, k) for f in found)))) for k in kinds}
    return FeatureLists(**merged, version=versions.pop())


def _feature_lists_of(
    inputs: list[Any] | None,
    frame: Any,
    taxonomy: Any,
    category_column: str | None,
    read_kw: dict[str, Any],
    client: Client | None,
) -> FeatureLists:
    """Fixed lists from the taxonomy, or (no taxonomy) a first pass over the categories."""
    frames = [frame._meta] if frame is not None else [i for i in inputs or [] if _is_frame(i)]
    own = taxonomy is None and (
        category_column is not None
        or any("category" in f and not f.attrs.get("taxonomy_version") for f in frames)
    )
    if not own:
        versions = sorted({str(f.attrs.get("taxonomy_version")) for f in frames} - {"None"})
        return taxonomy_for(taxonomy, versions[0] if versions else None).feature_lists()
    parts = inputs if inputs is not None else frame.to_delayed()
    task = dask.delayed(_categories)
    found = run_tasks(client, [task(p, taxonomy, read_kw) for p in parts], "finding categories")
    return _merge_lists(found)


def featurize_distributed(
    sources: Any,
    level: int = 16,
    out: str | os.PathLike | None = None,
    *,
    taxonomy: Any = None,
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    category_column: str | None = None,
    polygons: str = "poi",
    npartitions: int | None = None,
    scratch: str | os.PathLike | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    max_cells_per_polygon: int | None = DEFAULT_MAX_CELLS_PER_POLYGON,
) -> gpd.GeoDataFrame | Path:
    """Featurize on Dask: partial counts per input partition, summed by cell id.

    Gives the cells, columns and counts of :func:`s2vec_geo.featurize` run
    on all the inputs together (road lengths agree to floating-point summation
    order, about 1e-12 relative). Several sources are summed cell by cell.

    Parameters
    ----------
    sources
        A dask-geopandas GeoDataFrame (one map task per partition), or one or
        more feature sources (paths of OSM/OGR files such as per-region
        extracts, or GeoDataFrames; one map task each): anything
        :func:`s2vec_geo.featurize` accepts. A folder of QuackOSM GeoParquet
        files makes one map task per file (intersections are then found
        within each file; see :mod:`s2vec_geo.ingest.osm_parquet`).
    level
        S2 level of the cells (default 16, as :func:`s2vec_geo.featurize`).
    out
        A new folder to write the cells to, as GeoParquet partitions with a
        manifest (read it with :func:`~s2vec_geo.distributed.read_cell_partitions`);
        ``None`` returns one GeoDataFrame, for areas that fit in memory.
    taxonomy, layer, bbox, category_column, polygons
        As for :func:`s2vec_geo.featurize`. Without a taxonomy and with the
        data's own categories, a first pass collects the categories.
    npartitions
        Output partitions (default: sized so that a reduce task works in
        about ``PARTITION_BYTES``, 256 MB: ~10^5 cells at level 12).
    scratch
        Folder for the partial counts that map tasks write and reduce tasks
        read (about 21 bytes per count; removed at the end). Default: beside
        ``out``, or the system temp folder when ``out`` is ``None``. On a
        cluster of several machines it must be on storage every worker reaches.
    workers, scheduler
        Where to run: see :func:`~s2vec_geo.distributed.dask_client`.
    max_cells_per_polygon
        Size guard for building and land-use polygons, checked in each map
        task (see :func:`s2vec_geo.featurize`).

    Returns
    -------
    GeoDataFrame or Path
        The cell layer (indexed by int64 ``cell_id``, sorted), or ``out``.

    Examples
    --------
    >>> cells = featurize_distributed(
    ...     ["examples/data/helsinki.osm.pbf"], level=14, workers=1
    ... )  # doctest: +SKIP
    >>> int(cells["poi_cafe"].sum()) > 10  # doctest: +SKIP
    True
    """
    level = validate_level(level)
    if npartitions is not None and npartitions < 1:
        raise ValueError(f"npartitions must be a positive integer, got {npartitions!r}")
    target = new_folder(out) if out is not None else None
    inputs, frame = _as_inputs(sources)
    read_kw = {"layer": layer, "taxonomy": taxonomy, "bbox": bbox}
    read_kw.update(category_column=category_column, polygons=polygons)
    parent = scratch if scratch is not None else target.parent if target is not None else None
    with (
        dask_client(workers, scheduler) as client,
        scratch_folder(".s2vec-counts-", parent) as counts,
    ):
        lists = _feature_lists_of(inputs, frame, taxonomy, category_column, read_kw, client)
        parts = inputs if inputs is not None else frame.to_delayed()
        folders = [counts / f"map-{k:05d}" for k in range(len(parts))]
        map_kw = {"read_kw": read_kw, "max_cells_per_polygon": max_cells_per_polygon}
        histogram = _map_all(client, parts, folders, lists, level, map_kw)
        ranges = _ranges(_bucket_bytes(histogram, level, len(lists.columns())), npartitions)
        return _reduce_all(client, folders, ranges, lists, level, target)


def _map_all(
    client: Client | None,
    parts: Sequence[Any],
    folders: Sequence[Path],
    lists: FeatureLists,
    level: int,
    map_kw: dict[str, Any],
) -> np.ndarray:
    """Map every input to its partial counts; return their histogram over the buckets."""
    start = time.perf_counter()
    task = dask.delayed(_map_counts)
    found = run_tasks(
        client,
        [task(p, lists, level, folder=f, **map_kw) for p, f in zip(parts, folders, strict=True)],
        "counting",
    )
    histogram = np.zeros((2, N_BUCKETS), np.int64)
    for buckets, n in found:
        histogram[:, buckets] += n
    if histogram.sum() == 0:
        raise ValueError(
            "the sources hold no POIs, roads, road nodes, buildings or land use; check the "
            "inputs and the bbox"
        )
    log_phase("map", start, f"{len(parts)} inputs -> {histogram[0].sum()} partial counts")
    return histogram


def _reduce_all(
    client: Client | None,
    folders: Sequence[Path],
    ranges: list[tuple[int, int]],
    lists: FeatureLists,
    level: int,
    target: Path | None,
) -> gpd.GeoDataFrame | Path:
    """Sum every bucket range into a layer: one frame, or GeoParquet parts in ``target``."""
    start = time.perf_counter()
    if target is None:
        reduce = dask.delayed(_reduce)
        layers = run_tasks(
            client, [reduce(folders, r, lists, level) for r in ranges], "summing by cell"
        )
        log_phase("reduce", start, f"{len(ranges)} partitions")
        return _concat_layers(layers)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        write = dask.delayed(_write_part)
        written = run_tasks(
            client,
            [
                write(folders, r, lists, level, tmp / f"part-{k:05d}.parquet")
                for k, r in enumerate(ranges)
            ],
            "summing by cell",
        )
        write_manifest(tmp, level, lists.columns(), lists.version, written)
        log_phase("reduce", start, f"{len(ranges)} partitions")
    return target


def _concat_layers(layers: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    attrs = dict(layers[0].attrs)
    out = pd.concat(layers).sort_index()
    out.attrs.update(attrs)
    return out
