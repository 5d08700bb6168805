"""Build the images of a partitioned cell folder on Dask, one partition per task.

Every partition becomes its own shards (:func:`s2vec_geo.build_images`); the
shards are then gathered into one dataset folder, in S2 order, with
normalization statistics over all cells (moments merged across partitions).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import numpy as np
import pyarrow.parquet as pq

from s2vec_geo.distributed.cluster import dask_client, run_tasks, scratch_folder
from s2vec_geo.distributed.partitions import check_aligned, new_folder, part_files
from s2vec_geo.images.normalization import MomentAccumulator
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.s2 import validate_level

if TYPE_CHECKING:  # images import torch: loaded only where images are built
    from s2vec_geo.images import ImageDataset


def _part_images(
    cells: Path, out: Path, image_level: int, options: dict[str, Any]
) -> tuple[dict[str, Any], MomentAccumulator]:
    """Build one partition's images; also return its unfinished moments."""
    from s2vec_geo.images import build_images

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
    image_level: int = 12,
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
        Folder written by :func:`~s2vec_geo.distributed.featurize_distributed` (``out=``).
    image_level
        S2 level of the images; at least the partition level (6).
    out
        New folder for the image dataset.
    log1p, shard_size, chunk_size
        As for :func:`s2vec_geo.build_images`.
    workers, scheduler
        Where to run: see :func:`~s2vec_geo.distributed.dask_client`.

    Examples
    --------
    >>> ds = build_images_distributed("run/cells", 8, "run/images", workers=2)  # doctest: +SKIP
    >>> ds.grid  # doctest: +SKIP
    16
    """
    from s2vec_geo.images import ImageDataset
    from s2vec_geo.images.dataset import SHARD_KINDS, shard_files, write_meta

    image_level = validate_level(image_level, "image_level")
    check_aligned(cells, image_level, "images")
    target = new_folder(out)
    files = part_files(cells)
    options = {"log1p": log1p, "shard_size": shard_size, "chunk_size": chunk_size}
    with scratch_folder(f".{target.name}.parts-", target.parent) as scratch:
        with dask_client(workers, scheduler) as client:
            task = dask.delayed(_part_images)
            built = run_tasks(
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
