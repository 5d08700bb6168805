"""Featurize, build images and embed on Dask: past one machine, never a planet in memory.

Featurization is a sum of per-cell histograms, so it runs as map and reduce:

1. **map**: every input partition (a file of a list of sources, or a
   partition of a dask-geopandas frame) is counted by the single-machine code
   (:func:`s2vec_geo.features.count_chunk`) into sparse partial counts: rows of
   ``(cell_id, feature, value)``, written to a scratch folder sorted by cell.
   Workers keep nothing in memory between the steps.
2. **partition**: output partitions are ranges of level-6 ancestor cells in S2
   (Hilbert) order, sized from a histogram the map tasks return so that a
   reduce task works in about :data:`PARTITION_BYTES`. Every cell -- and
   every image of level 6 or finer -- lives in exactly one partition.
3. **reduce**: each output partition reads its slice of every map output,
   sums the partial counts by cell (:func:`s2vec_geo.features.cells_layer`
   builds the same layer as :func:`s2vec_geo.featurize`) and writes one
   GeoParquet file.

The output is a folder of ``part-NNNNN.parquet`` files plus a
``_partitions.json`` manifest: :func:`read_cells` opens it lazily as a
dask-geopandas frame, :func:`build_images_distributed` turns it into one image
dataset (memory-mapped shards, global normalization statistics) and
:func:`embed_distributed` embeds it partition by partition. Folders must be on
storage that every Dask worker can reach (a shared file system).

Dask runs where the caller says: ``scheduler="tcp://HOST:8786"`` (any Dask
cluster), ``workers=N`` (a local cluster of N single-threaded processes), the
Dask client already active in the session, or else a new local cluster.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import dask.dataframe as dd
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from distributed import Client, LocalCluster, as_completed

from s2vec_geo.cell_areas import DEFAULT_MAX_CELLS_PER_POLYGON
from s2vec_geo.cell_counts import sum_counts
from s2vec_geo.features import as_features, cells_layer, count_chunk, feature_lists
from s2vec_geo.ingest.osm_parquet import input_parts
from s2vec_geo.io import atomic_path, write_layer
from s2vec_geo.progress import progress
from s2vec_geo.s2 import cell_parent, validate_level
from s2vec_geo.s2.cover import sorted_unique
from s2vec_geo.taxonomy import FeatureLists, taxonomy_for

if TYPE_CHECKING:  # images import torch: loaded only where images are built
    from s2vec_geo.images import ImageDataset
    from s2vec_geo.normalization import MomentAccumulator

log = logging.getLogger(__name__)

PARTITION_LEVEL = 6
"""Output partitions hold whole level-6 cells (about 20,000 km2): images of
level 6 or finer never straddle two partitions."""
_BUCKET_SHIFT = 64 - 3 - 2 * PARTITION_LEVEL  # face (3 bits) + 2 bits per level
N_BUCKETS = 6 * 4**PARTITION_LEVEL
MANIFEST = "_partitions.json"
MANIFEST_FORMAT = "s2vec-cell-partitions"
PARTITION_BYTES = 256 * 2**20
"""Default working set of a reduce task: output partitions hold about this much."""
_COUNT_BYTES = 64  # a partial count read, sorted and summed
_FEATURE_BYTES = 16  # a feature of a cell in the dense layer and in its GeoParquet copy
_CELL_BYTES = 400  # a cell's id, token and polygon
SATURATION = 1.0
"""Root tasks (inputs to read) a worker holds per thread. Dask's default, 1.1,
rounds up to 2 for single-threaded workers: a second input frame (~0.4 GB per
million features) would wait in memory while the first is counted."""
_KINDS = (
    "points",
    "road_counts",
    "road_lengths",
    "building_counts",
    "building_areas",
    "building_floor_areas",
    "landuse_areas",
)
_COLUMNS = ("cell_id", "kind", "code", "value")


# -- cluster ------------------------------------------------------------------


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """The Dask client to run on; clusters it starts are closed on exit.

    Parameters
    ----------
    workers
        Start a local cluster of this many single-threaded worker processes.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``).

    With neither, the client already active in this session is used, or a
    local cluster with one worker per CPU core is started. Local clusters
    started here give each worker one input at a time
    (``distributed.scheduler.worker-saturation`` = :data:`SATURATION`); set
    the same on the scheduler of a cluster of your own.

    Examples
    --------
    >>> with dask_client(workers=1) as client:  # doctest: +SKIP
    ...     client.submit(sum, [1, 2]).result()
    3
    """
    if workers is not None and scheduler is not None:
        raise ValueError(
            "give either workers (a local cluster) or scheduler (an existing cluster), not both"
        )
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise ValueError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); check the address "
                "(tcp://HOST:8786) and that `dask scheduler` runs there"
            ) from exc
        with client:
            yield client
        return
    if workers is None:
        with contextlib.suppress(ValueError):
            yield Client.current()
            return
    n = workers or os.cpu_count() or 1
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": SATURATION}),
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _run(client: Client, tasks: Sequence[Any], desc: str) -> list[Any]:
    """Compute delayed ``tasks`` on ``client`` with a progress bar; results in order."""
    futures = client.compute(list(tasks))
    position = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    for future in progress(as_completed(futures), total=len(futures), desc=desc, unit="part"):
        results[position[future.key]] = future.result()
    return results


# -- featurize ----------------------------------------------------------------


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
        "cell_id": cells[order],
        "kind": kinds[order],
        "code": np.concatenate([k for _, k, _ in counted]).astype(np.int32)[order],
        "value": np.concatenate([v for _, _, v in counted]).astype(np.float64)[order],
    }
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        for name, values in columns.items():
            np.save(tmp / f"{name}.npy", values)
    buckets = columns["cell_id"] >> np.uint64(_BUCKET_SHIFT)
    first = np.r_[True, columns["cell_id"][1:] != columns["cell_id"][:-1]]
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
    lo, hi = (np.uint64(b) << np.uint64(_BUCKET_SHIFT) for b in buckets)
    pieces: dict[str, list[np.ndarray]] = {name: [] for name in _COLUMNS}
    for folder in folders:
        cells = np.load(folder / "cell_id.npy", mmap_mode="r")
        a, b = np.searchsorted(cells, [lo, hi])
        for name in _COLUMNS:
            pieces[name].append(np.array(np.load(folder / f"{name}.npy", mmap_mode="r")[a:b]))
    return {name: np.concatenate(parts) for name, parts in pieces.items()}


def _reduce(
    folders: Sequence[Path], buckets: tuple[int, int], lists: FeatureLists, level: int
) -> gpd.GeoDataFrame:
    """Reduce step: sum the partial counts of one bucket range into a cell layer."""
    part = _read_range(folders, buckets)
    cells, kind = part["cell_id"].view(np.int64), part["kind"]
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
    client: Client,
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
    found = _run(client, [task(p, taxonomy, read_kw) for p in parts], "finding categories")
    return _merge_lists(found)


def featurize_distributed(
    sources: Any,
    level: int = 12,
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
        S2 level of the cells.
    out
        A new folder to write the cells to, as GeoParquet partitions with a
        manifest (read it with :func:`read_cells`); ``None`` returns one
        GeoDataFrame, for areas that fit in memory.
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
        Where to run: see :func:`dask_client`.
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
    target = _new_folder(out) if out is not None else None
    inputs, frame = _as_inputs(sources)
    read_kw = {"layer": layer, "taxonomy": taxonomy, "bbox": bbox}
    read_kw.update(category_column=category_column, polygons=polygons)
    parent = scratch if scratch is not None else target.parent if target is not None else None
    with dask_client(workers, scheduler) as client, _scratch(".s2vec-counts-", parent) as counts:
        lists = _feature_lists_of(inputs, frame, taxonomy, category_column, read_kw, client)
        start = time.perf_counter()
        parts = inputs if inputs is not None else frame.to_delayed()
        folders = [counts / f"map-{k:05d}" for k in range(len(parts))]
        task = dask.delayed(_map_counts)
        found = _run(
            client,
            [
                task(p, lists, level, read_kw, f, max_cells_per_polygon)
                for p, f in zip(parts, folders, strict=True)
            ],
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
        columns = lists.columns()
        ranges = _ranges(_bucket_bytes(histogram, level, len(columns)), npartitions)
        _log_phase("map", start, f"{len(parts)} inputs -> {histogram[0].sum()} partial counts")
        start = time.perf_counter()
        if target is None:
            reduce = dask.delayed(_reduce)
            layers = _run(
                client, [reduce(folders, r, lists, level) for r in ranges], "summing by cell"
            )
            _log_phase("reduce", start, f"{len(ranges)} partitions")
            return _concat_layers(layers)
        with atomic_path(target) as tmp:
            tmp.mkdir()
            write = dask.delayed(_write_part)
            written = _run(
                client,
                [
                    write(folders, r, lists, level, tmp / f"part-{k:05d}.parquet")
                    for k, r in enumerate(ranges)
                ],
                "summing by cell",
            )
            _write_manifest(tmp, level, columns, lists.version, written)
            _log_phase("reduce", start, f"{len(ranges)} partitions")
    return target


def _log_phase(phase: str, start: float, what: str) -> None:
    """Log a phase's wall time (also as the record's ``phase`` and ``seconds``)."""
    seconds = time.perf_counter() - start
    log.info("%s: %s in %.1f s", phase, what, seconds, extra={"phase": phase, "seconds": seconds})


@contextlib.contextmanager
def _scratch(prefix: str, parent: str | os.PathLike | None) -> Iterator[Path]:
    """A new folder (in ``parent``, default the system temp folder), removed on exit."""
    if parent is not None and not Path(parent).is_dir():
        raise FileNotFoundError(
            f"scratch folder {str(parent)!r} (for partial counts between map and reduce) "
            "does not exist; create it first"
        )
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _concat_layers(layers: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    attrs = dict(layers[0].attrs)
    out = pd.concat(layers).sort_index()
    out.attrs.update(attrs)
    return out


def _new_folder(out: str | os.PathLike) -> Path:
    target = Path(out)
    if target.exists():
        raise ValueError(
            f"output {str(target)!r} already exists; choose a new folder or remove the old one"
        )
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"output folder {str(target.parent)!r} does not exist; create it first"
        )
    return target


def _write_manifest(
    folder: Path, level: int, columns: list[str], version: str | None, parts: list[dict[str, Any]]
) -> None:
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "level": level,
        "partition_level": PARTITION_LEVEL,
        "feature_columns": columns,
        "taxonomy_version": version,
        "n_cells": int(sum(p["n_cells"] for p in parts)),
        "parts": parts,
    }
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))


# -- reading partitions ---------------------------------------------------------


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a partitioned cell folder (levels, columns, part files).

    Examples
    --------
    >>> read_manifest("run/cells")["level"]  # doctest: +SKIP
    12
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{str(folder)!r} is not a partitioned cell folder (no {MANIFEST}); write one "
            "with featurize_distributed(..., out=FOLDER) or `s2vec featurize --workers N`"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{str(path)!r} is not an s2vec cell-partition manifest")
    return manifest


def _part_files(folder: str | os.PathLike) -> list[Path]:
    return [Path(folder) / p["file"] for p in read_manifest(folder)["parts"]]


def read_cells(folder: str | os.PathLike) -> Any:
    """Open a partitioned cell folder lazily as a dask-geopandas GeoDataFrame.

    Examples
    --------
    >>> cells = read_cells("run/cells")  # doctest: +SKIP
    >>> int(cells["poi_cafe"].sum().compute()) > 0  # doctest: +SKIP
    True
    """
    import dask_geopandas

    return dask_geopandas.read_parquet([str(p) for p in _part_files(folder)])


def _aligned(folder: str | os.PathLike, image_level: int, what: str) -> dict[str, Any]:
    manifest = read_manifest(folder)
    if image_level < manifest["partition_level"]:
        raise ValueError(
            f"{what} at image level {image_level} would straddle partitions, which hold whole "
            f"level-{manifest['partition_level']} cells; use an image level >= "
            f"{manifest['partition_level']} or the single-machine function on one layer file"
        )
    return manifest


# -- images ---------------------------------------------------------------------


def _part_images(
    cells: Path, out: Path, image_level: int, options: dict[str, Any]
) -> tuple[dict[str, Any], MomentAccumulator]:
    """Build one partition's images; also return its unfinished moments."""
    from s2vec_geo.images import build_images
    from s2vec_geo.normalization import MomentAccumulator

    ds = build_images(cells, image_level, out, **options)
    acc = MomentAccumulator(len(ds.feature_names), log1p=options["log1p"])
    reader = pq.ParquetFile(cells).iter_batches(
        batch_size=options["chunk_size"], columns=list(ds.feature_names)
    )
    for batch in reader:
        acc.add(np.column_stack([c.to_numpy(zero_copy_only=False) for c in batch.columns]))
    return ds.meta, acc


def build_images_distributed(
    cells: str | os.PathLike,
    image_level: int = 8,
    out: str | os.PathLike = "images",
    *,
    log1p: bool = True,
    shard_size: int = 1024,
    chunk_size: int = 32_768,
    workers: int | None = None,
    scheduler: str | None = None,
) -> ImageDataset:
    """Build the images of a partitioned cell folder, one partition per Dask task.

    Every partition becomes its own shards (:func:`s2vec_geo.build_images`);
    the shards are then gathered into one dataset folder, in S2 order, with
    normalization statistics over all cells. The result reads like any
    dataset built by :func:`s2vec_geo.build_images`.

    Parameters
    ----------
    cells
        Folder written by :func:`featurize_distributed` (``out=``).
    image_level
        S2 level of the images; at least the partition level (6).
    out
        New folder for the image dataset.
    log1p, shard_size, chunk_size
        As for :func:`s2vec_geo.build_images`.
    workers, scheduler
        Where to run: see :func:`dask_client`.

    Examples
    --------
    >>> ds = build_images_distributed("run/cells", 8, "run/images", workers=2)  # doctest: +SKIP
    >>> ds.grid  # doctest: +SKIP
    16
    """
    from s2vec_geo.images import ImageDataset
    from s2vec_geo.images.dataset import SHARD_KINDS, shard_files, write_meta
    from s2vec_geo.normalization import MomentAccumulator

    image_level = validate_level(image_level, "image_level")
    _aligned(cells, image_level, "images")
    target = _new_folder(out)
    files = _part_files(cells)
    options = {"log1p": log1p, "shard_size": shard_size, "chunk_size": chunk_size}
    with _scratch(f".{target.name}.parts-", target.parent) as scratch:
        with dask_client(workers, scheduler) as client:
            task = dask.delayed(_part_images)
            built = _run(
                client,
                [task(f, scratch / f.stem, image_level, options) for f in files],
                "building images",
            )
        metas = [m for m, _ in built]
        total = MomentAccumulator(len(metas[0]["feature_names"]), log1p=log1p)
        for _, acc in built:
            total.merge(acc)
        stats = total.finish(metas[0]["feature_names"])
        with atomic_path(target) as tmp:
            tmp.mkdir()
            shards = []
            for f, meta in zip(files, metas, strict=True):
                for shard in meta["shards"]:
                    names = shard_files(len(shards))
                    for kind in SHARD_KINDS:
                        os.replace(scratch / f.stem / shard[kind], tmp / names[kind])
                    shards.append({**names, "n": shard["n"]})
            merged = {
                **metas[0],
                "n_images": sum(m["n_images"] for m in metas),
                "n_cells": sum(m["n_cells"] for m in metas),
                "stats": stats.to_dict(),
                "shards": shards,
            }
            write_meta(tmp, merged)
    return ImageDataset.open(target)


# -- embeddings -------------------------------------------------------------------


def _part_buckets(path: Path) -> tuple[int, int]:
    """The ``[first, stop)`` level-6 bucket range of a partition file's cells."""
    ids = pq.read_table(path, columns=["cell_id"]).column(0).to_numpy().view(np.uint64)
    return int(ids.min() >> _BUCKET_SHIFT), int(ids.max() >> _BUCKET_SHIFT) + 1


def _halo(
    own: pd.DataFrame, image_level: int, path: Path, parts: list[tuple[Path, tuple[int, int]]]
) -> list[gpd.GeoDataFrame]:
    """Cells of the tiles around a partition's tiles, read from the partitions holding them."""
    from s2vec_geo.images.windows import surrounding_tiles

    around = surrounding_tiles(cell_parent(own.index.to_numpy(), image_level))
    if around.size == 0:
        return []
    bucket = around.view(np.uint64) >> np.uint64(_BUCKET_SHIFT)
    half = (around & -around) - 1  # a tile's descendants: ids within half its lsb
    frames = []
    for other, (first, stop) in parts:
        sel = (bucket >= first) & (bucket < stop)
        if other == path or not sel.any():
            continue
        ranges = zip(around[sel] - half[sel], around[sel] + half[sel], strict=True)
        filters = [[("cell_id", ">=", int(lo)), ("cell_id", "<=", int(hi))] for lo, hi in ranges]
        frames.append(gpd.read_parquet(other, filters=filters).set_index("cell_id"))
    return frames


def _embed_part(
    cells: Path,
    path: Path,
    model: Any,
    options: dict[str, Any],
    parts: list[tuple[Path, tuple[int, int]]],
) -> dict[str, Any]:
    """Embed one partition; sliding windows also read the cells around it (its halo)."""
    from s2vec_geo.embedding import embed, model_windows
    from s2vec_geo.model import load_model

    from_model = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    own = gpd.read_parquet(cells).set_index("cell_id")
    sliding = (options.get("windows") or model_windows(from_model)) == "sliding"
    halo = []
    if options["mode"] == "contextual" and sliding:
        halo = _halo(own, from_model.image_level, cells, parts)
    emb = embed(pd.concat([own, *halo]) if halo else own, from_model, **options)
    if halo:
        if options["images"]:
            emb = emb.loc[np.unique(cell_parent(own.index.to_numpy(), from_model.image_level))]
        else:
            emb = emb.loc[own.index]
    write_layer(emb, path)
    return {"file": path.name, "n_cells": len(emb)}


def embed_distributed(
    cells: str | os.PathLike,
    model: Any,
    out: str | os.PathLike,
    *,
    mode: str = "contextual",
    images: bool = False,
    batch_size: int = 64,
    windows: str | None = None,
    stride: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> Path:
    """Embed a partitioned cell folder partition by partition, on Dask.

    Each partition holds whole images, and with sliding windows its task also
    reads the cells of the tiles around it from the neighbouring partitions,
    so every cell is embedded exactly as :func:`s2vec_geo.embed` embeds it
    with the whole area at once. The output
    is a new partitioned folder (one GeoParquet file per input partition and a
    manifest), readable with :func:`read_cells`.

    Parameters
    ----------
    cells
        Folder written by :func:`featurize_distributed` (``out=``).
    model
        Path of a trained model file (each worker loads it), or an
        :class:`s2vec_geo.S2VecModel`.
    out
        New folder for the embeddings.
    mode, images, batch_size, windows, stride
        As for :func:`s2vec_geo.embed`.
    workers, scheduler
        Where to run: see :func:`dask_client`.

    Examples
    --------
    >>> embed_distributed("run/cells", "run/model.pt", "run/emb", workers=2)  # doctest: +SKIP
    PosixPath('run/emb')
    """
    from s2vec_geo.images.windows import check_stride
    from s2vec_geo.model import load_model

    m = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    if mode == "contextual" or images:
        manifest = _aligned(cells, m.image_level, "contextual or image embeddings")
    else:
        manifest = read_manifest(cells)
    if stride is not None:
        check_stride(stride, m.config.grid)
    target = _new_folder(out)
    files = _part_files(cells)
    options = {
        "mode": mode,
        "images": images,
        "batch_size": batch_size,
        "windows": windows,
        "stride": stride,
    }
    source = model if isinstance(model, (str, os.PathLike)) else m
    parts = [
        (f, tuple(p["buckets"]) if "buckets" in p else _part_buckets(f))
        for f, p in zip(files, manifest["parts"], strict=True)
    ]
    with dask_client(workers, scheduler) as client, atomic_path(target) as tmp:
        tmp.mkdir()
        task = dask.delayed(_embed_part)
        written = _run(
            client,
            [task(f, tmp / f.name, source, options, parts) for f in files],
            "embedding",
        )
        level = m.image_level if images else m.patch_level
        _write_manifest(tmp, level, [], manifest["taxonomy_version"], written)
    return target
