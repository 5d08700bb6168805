"""Featurize, build images and embed on Dask: past one machine, never a planet in memory.

Featurization is a sum of per-cell histograms, so it runs as map and reduce:

1. **map**: every input partition (a file of a list of sources, or a
   partition of a dask-geopandas frame) is counted by the single-machine code
   (:func:`s2vec_geo.features.count_chunk`) into sparse partial counts: rows of
   ``(cell_id, feature, value)``.
2. **shuffle**: the partial counts move to the output partition that owns
   their cell. Output partitions are ranges of level-6 ancestor cells in S2
   (Hilbert) order, sized from a histogram of the partial counts, so every
   cell -- and every image of level 6 or finer -- lives in exactly one
   partition.
3. **reduce**: each output partition sums its partial counts by cell
   (:func:`s2vec_geo.features.cells_layer` builds the same layer as
   :func:`s2vec_geo.featurize`) and writes one GeoParquet file.

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
import json
import logging
import os
import shutil
import tempfile
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

from s2vec_geo.features import (
    _as_features,
    _feature_lists,
    cells_layer,
    count_chunk,
    sum_counts,
)
from s2vec_geo.io import atomic_path, write_layer
from s2vec_geo.progress import progress
from s2vec_geo.s2 import validate_level
from s2vec_geo.s2.cover import sorted_unique
from s2vec_geo.taxonomy import feature_column_names, load_taxonomy

if TYPE_CHECKING:  # images import torch: loaded only where images are built
    from s2vec_geo.images import ImageDataset
    from s2vec_geo.images.stats import MomentAccumulator

log = logging.getLogger(__name__)

PARTITION_LEVEL = 6
"""Output partitions hold whole level-6 cells (about 20,000 km2): images of
level 6 or finer never straddle two partitions."""
_BUCKET_SHIFT = 64 - 3 - 2 * PARTITION_LEVEL  # face (3 bits) + 2 bits per level
N_BUCKETS = 6 * 4**PARTITION_LEVEL
MANIFEST = "_partitions.json"
MANIFEST_FORMAT = "s2vec-cell-partitions"
TRIPLES_PER_PARTITION = 1_000_000
"""Default size of an output partition, in partial counts (up to ~10^6 cells: the
dense layer a reduce task builds stays well under 1 GB)."""
_KINDS = ("points", "counts", "lengths")
_TRIPLE_META = pd.DataFrame(
    {
        "bucket": pd.Series([], dtype=np.int32),
        "cell_id": pd.Series([], dtype=np.int64),
        "kind": pd.Series([], dtype=np.int8),
        "code": pd.Series([], dtype=np.int32),
        "value": pd.Series([], dtype=np.float64),
    }
)

FeatureLists = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], "str | None"]


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
    local cluster with one worker per CPU core is started.

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


def _buckets(cells: np.ndarray) -> np.ndarray:
    """Level-6 ancestor of each cell as its position along S2's Hilbert curve."""
    return (cells.view(np.uint64) >> np.uint64(_BUCKET_SHIFT)).astype(np.int32)


def _partial_counts(
    features: Any, lists: FeatureLists, level: int, read_kw: dict[str, Any]
) -> pd.DataFrame:
    """Map step: sparse ``(bucket, cell_id, kind, code, value)`` counts of one input."""
    frame = _as_features(features, read_kw)
    pois, roads, nodes, _ = lists
    parts = []
    for kind, (cells, codes, values) in enumerate(count_chunk(frame, pois + nodes, roads, level)):
        parts.append(
            pd.DataFrame(
                {
                    "bucket": _buckets(cells),
                    "cell_id": cells,
                    "kind": np.full(len(cells), kind, np.int8),
                    "code": codes.astype(np.int32),
                    "value": values.astype(np.float64),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _categories(features: Any, taxonomy: Any, read_kw: dict[str, Any]) -> FeatureLists:
    """The feature lists one input implies (its own categories without a taxonomy)."""
    pois, roads, nodes, tax = _feature_lists(_as_features(features, read_kw), taxonomy)
    return pois, roads, nodes, tax.version if tax is not None else None


def _merge_lists(found: Sequence[FeatureLists]) -> FeatureLists:
    versions = {f[3] for f in found}
    if len(versions) > 1:
        raise ValueError(
            f"the inputs were classified with different taxonomies {sorted(map(str, versions))}; "
            "read them all with the same taxonomy"
        )
    merged = [tuple(sorted(set().union(*(f[k] for f in found)))) for k in range(3)]
    return merged[0], merged[1], merged[2], versions.pop()


def _bucket_histogram(part: pd.DataFrame) -> np.ndarray:
    return np.bincount(part["bucket"].to_numpy(), minlength=N_BUCKETS)


def _divisions(histogram: np.ndarray, npartitions: int | None) -> list[int]:
    """Bucket boundaries that split the partial counts into balanced ranges."""
    used = np.flatnonzero(histogram)
    total = int(histogram.sum())
    n = npartitions or max(1, -(-total // TRIPLES_PER_PARTITION))
    cum = np.cumsum(histogram)
    starts = np.searchsorted(cum, total * np.arange(1, n) / n, side="left") + 1
    inner = set(starts[(starts > used[0]) & (starts <= used[-1])].tolist())
    # a bucket too big to split leaves fewer cuts: cut at other used buckets instead
    spare = [b for b in used[1:].tolist() if b not in inner]
    inner.update(spare[: max(0, min(n, len(used)) - 1 - len(inner))])
    cuts = sorted({int(used[0]), *inner, int(used[-1])})
    return cuts if len(cuts) > 1 else cuts * 2  # one bucket: one partition [b, b]


def _reduce(part: pd.DataFrame, lists: FeatureLists, level: int) -> gpd.GeoDataFrame:
    """Reduce step: sum the partial counts of one output partition into a cell layer."""
    kind = part["kind"].to_numpy()
    cells, codes, values = (part[c].to_numpy() for c in ("cell_id", "code", "value"))
    sums = []
    for k in range(len(_KINDS)):
        sel = kind == k
        sums.append(sum_counts([(cells[sel], codes[sel].astype(np.int64), values[sel])], level))
    owned = sorted_unique(np.concatenate([sums[0][0], sums[2][0]]))
    pois, roads, nodes, version = lists
    return cells_layer(owned, *sums, (pois, roads, nodes), version, level)


def _write_part(part: pd.DataFrame, path: Path, lists: FeatureLists, level: int) -> dict[str, Any]:
    layer = _reduce(part, lists, level)
    write_layer(layer, path)
    return {"file": path.name, "n_cells": len(layer)}


def _as_inputs(sources: Any) -> tuple[list[Any] | None, Any]:
    """(list of paths/frames, or None) and the dask frame when given one."""
    if isinstance(sources, dd.DataFrame):
        return None, sources
    if isinstance(sources, (str, os.PathLike, gpd.GeoDataFrame)):
        return [sources], None
    items = list(sources)
    if not items:
        raise ValueError("no sources given; pass one or more feature files or frames")
    for item in items:
        if isinstance(item, (str, os.PathLike)) and not Path(item).exists():
            raise FileNotFoundError(f"input {str(item)!r} does not exist; check the path")
    return items, None


def _is_frame(item: Any) -> bool:
    return isinstance(item, pd.DataFrame)


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
        tax = load_taxonomy(taxonomy)
        return tax.poi_categories, tax.road_classes, tax.node_features, tax.version
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
    npartitions: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
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
        :func:`s2vec_geo.featurize` accepts.
    level
        S2 level of the cells.
    out
        A new folder to write the cells to, as GeoParquet partitions with a
        manifest (read it with :func:`read_cells`); ``None`` returns one
        GeoDataFrame, for areas that fit in memory.
    taxonomy, layer, bbox, category_column
        As for :func:`s2vec_geo.featurize`. Without a taxonomy and with the
        data's own categories, a first pass collects the categories.
    npartitions
        Output partitions (default: one per ~4 million partial counts).
    workers, scheduler
        Where to run: see :func:`dask_client`.

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
    read_kw["category_column"] = category_column
    with dask_client(workers, scheduler) as client:
        lists = _feature_lists_of(inputs, frame, taxonomy, category_column, read_kw, client)
        args = (lists, level, read_kw)
        if inputs is not None:
            triples = dd.from_map(_partial_counts, inputs, args=args, meta=_TRIPLE_META)
        else:
            triples = frame.map_partitions(_partial_counts, *args, meta=_TRIPLE_META)
        triples = client.persist(triples)
        task = dask.delayed(_bucket_histogram)
        hist = np.sum(_run(client, [task(p) for p in triples.to_delayed()], "counting"), axis=0)
        if hist.sum() == 0:
            raise ValueError(
                "the sources hold no POIs, roads or road nodes; check the inputs and the bbox"
            )
        shuffled = triples.set_index("bucket", divisions=_divisions(hist, npartitions))
        parts = shuffled.to_delayed()
        if target is None:
            reduce = dask.delayed(_reduce)
            layers = _run(client, [reduce(p, lists, level) for p in parts], "summing by cell")
            return _concat_layers(layers)
        with atomic_path(target) as tmp:
            tmp.mkdir()
            write = dask.delayed(_write_part)
            files = [tmp / f"part-{k:05d}.parquet" for k in range(len(parts))]
            written = _run(
                client,
                [write(p, f, lists, level) for p, f in zip(parts, files, strict=True)],
                "summing by cell",
            )
            columns = list(feature_column_names(*lists[:3]))
            _write_manifest(tmp, level, columns, lists[3], written)
    return target


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
    from s2vec_geo.images.stats import MomentAccumulator

    ds = build_images(cells, image_level, out, **options)
    acc = MomentAccumulator(len(ds.feature_names), log1p=options["log1p"])
    reader = pq.ParquetFile(cells).iter_batches(
        batch_size=options["chunk_size"], columns=list(ds.feature_names)
    )
    for batch in reader:
        acc.add(np.column_stack([c.to_numpy(zero_copy_only=False) for c in batch.columns]))
    return ds.meta, acc


def _merge_moments(parts: Sequence[MomentAccumulator]) -> MomentAccumulator:
    """Chan et al.'s pairwise combination of per-partition moments."""
    from s2vec_geo.images.stats import MomentAccumulator

    total = MomentAccumulator(len(parts[0].mean), log1p=parts[0].log1p)
    for part in parts:
        n = total.count + part.count
        delta = part.mean - total.mean
        total.m2 = total.m2 + part.m2 + delta**2 * (total.count * part.count / n)
        total.mean = total.mean + delta * (part.count / n)
        total.count = n
    return total


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

    image_level = validate_level(image_level, "image_level")
    _aligned(cells, image_level, "images")
    target = _new_folder(out)
    files = _part_files(cells)
    options = {"log1p": log1p, "shard_size": shard_size, "chunk_size": chunk_size}
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.parts-", dir=target.parent))
    try:
        with dask_client(workers, scheduler) as client:
            task = dask.delayed(_part_images)
            built = _run(
                client,
                [task(f, scratch / f.stem, image_level, options) for f in files],
                "building images",
            )
        metas = [m for m, _ in built]
        stats = _merge_moments([acc for _, acc in built]).finish(metas[0]["feature_names"])
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
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ImageDataset.open(target)


# -- embeddings -------------------------------------------------------------------


def _embed_part(cells: Path, path: Path, model: Any, options: dict[str, Any]) -> dict[str, Any]:
    from s2vec_geo.embedding import embed

    emb = embed(gpd.read_parquet(cells).set_index("cell_id"), model, **options)
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
    workers: int | None = None,
    scheduler: str | None = None,
) -> Path:
    """Embed a partitioned cell folder partition by partition, on Dask.

    Each partition holds whole images, so every cell is embedded exactly as
    :func:`s2vec_geo.embed` embeds it with the whole area at once. The output
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
    mode, images, batch_size
        As for :func:`s2vec_geo.embed`.
    workers, scheduler
        Where to run: see :func:`dask_client`.

    Examples
    --------
    >>> embed_distributed("run/cells", "run/model.pt", "run/emb", workers=2)  # doctest: +SKIP
    PosixPath('run/emb')
    """
    from s2vec_geo.embedding import _as_model

    m = _as_model(model)
    if mode == "contextual" or images:
        manifest = _aligned(cells, m.image_level, "contextual or image embeddings")
    else:
        manifest = read_manifest(cells)
    target = _new_folder(out)
    files = _part_files(cells)
    options = {"mode": mode, "images": images, "batch_size": batch_size}
    source = model if isinstance(model, (str, os.PathLike)) else m
    with dask_client(workers, scheduler) as client, atomic_path(target) as tmp:
        tmp.mkdir()
        task = dask.delayed(_embed_part)
        written = _run(
            client,
            [task(f, tmp / f.name, source, options) for f in files],
            "embedding",
        )
        level = m.image_level if images else m.patch_level
        _write_manifest(tmp, level, [], manifest["taxonomy_version"], written)
    return target
