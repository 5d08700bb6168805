"""Embed a partitioned cell folder on Dask, partition by partition.

Each partition holds whole images; with sliding windows its task also reads
the cells of the tiles around it (its *halo*) from the neighbouring
partitions, so every cell is embedded exactly as :func:`s2vec_geo.embed`
embeds it with the whole area at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask
import geopandas as gpd
import numpy as np
import pandas as pd

from s2vec_geo.core.schema import CELL_ID
from s2vec_geo.distributed.cluster import dask_client, run_tasks
from s2vec_geo.distributed.partitions import (
    buckets_of,
    check_aligned,
    new_folder,
    part_buckets,
    part_files,
    read_manifest,
    write_manifest,
)
from s2vec_geo.io.layers import atomic_path, write_layer
from s2vec_geo.s2 import cell_parent


def _halo(
    own: pd.DataFrame, image_level: int, path: Path, parts: list[tuple[Path, tuple[int, int]]]
) -> list[gpd.GeoDataFrame]:
    """Cells of the tiles around a partition's tiles, read from the partitions holding them."""
    from s2vec_geo.images.windows import surrounding_tiles

    around = surrounding_tiles(cell_parent(own.index.to_numpy(), image_level))
    if around.size == 0:
        return []
    bucket = buckets_of(around)
    half = (around & -around) - 1  # a tile's descendants: ids within half its lsb
    frames = []
    for other, (first, stop) in parts:
        sel = (bucket >= first) & (bucket < stop)
        if other == path or not sel.any():
            continue
        ranges = zip(around[sel] - half[sel], around[sel] + half[sel], strict=True)
        filters = [[(CELL_ID, ">=", int(lo)), (CELL_ID, "<=", int(hi))] for lo, hi in ranges]
        frames.append(gpd.read_parquet(other, filters=filters).set_index(CELL_ID))
    return frames


def _embed_part(
    cells: Path,
    path: Path,
    model: Any,
    options: dict[str, Any],
    parts: list[tuple[Path, tuple[int, int]]],
) -> dict[str, Any]:
    """Embed one partition; sliding windows also read the cells around it (its halo)."""
    from s2vec_geo.embeddings.embed import embed, model_windows
    from s2vec_geo.model.file import load_model

    from_model = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    own = gpd.read_parquet(cells).set_index(CELL_ID)
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
    write_layer(emb, path, style=False)  # colours of one part would not match the others
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
    manifest), readable with :func:`~s2vec_geo.distributed.read_cell_partitions`.

    Parameters
    ----------
    cells
        Folder written by :func:`~s2vec_geo.distributed.featurize_distributed` (``out=``).
    model
        Path of a trained model file (each worker loads it), or an
        :class:`s2vec_geo.S2VecModel`.
    out
        New folder for the embeddings.
    mode, images, batch_size, windows, stride
        As for :func:`s2vec_geo.embed`.
    workers, scheduler
        Where to run: see :func:`~s2vec_geo.distributed.dask_client`.

    Examples
    --------
    >>> embed_distributed("run/cells", "run/model.pt", "run/emb", workers=2)  # doctest: +SKIP
    PosixPath('run/emb')
    """
    from s2vec_geo.images.windows import check_stride
    from s2vec_geo.model.file import load_model

    m = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    if mode == "contextual" or images:
        manifest = check_aligned(cells, m.image_level, "contextual or image embeddings")
    else:
        manifest = read_manifest(cells)
    if stride is not None:
        check_stride(stride, m.config.grid)
    target = new_folder(out)
    files = part_files(cells)
    options = {
        "mode": mode,
        "images": images,
        "batch_size": batch_size,
        "windows": windows,
        "stride": stride,
    }
    source = model if isinstance(model, (str, os.PathLike)) else m
    parts = [
        (f, tuple(p["buckets"]) if "buckets" in p else part_buckets(f))
        for f, p in zip(files, manifest["parts"], strict=True)
    ]
    with dask_client(workers, scheduler) as client, atomic_path(target) as tmp:
        tmp.mkdir()
        task = dask.delayed(_embed_part)
        written = run_tasks(
            client,
            [task(f, tmp / f.name, source, options, parts) for f in files],
            "embedding",
        )
        level = m.image_level if images else m.patch_level
        write_manifest(tmp, level, [], manifest["taxonomy_version"], written)
    return target
