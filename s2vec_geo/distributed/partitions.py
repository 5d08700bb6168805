"""Partitioned cell folders: GeoParquet parts of whole level-6 cells and their manifest.

A folder written on Dask (:func:`~s2vec_geo.distributed.featurize_distributed`
with ``out=``, :func:`~s2vec_geo.distributed.embed_distributed`) holds
``part-NNNNN.parquet`` files and a ``_partitions.json`` manifest (level,
feature columns, taxonomy version, and per part its file, cell count and the
range of level-6 *buckets* it holds). Parts are ranges of level-6 ancestor
cells in S2 (Hilbert) order, so every cell -- and every image of level 6 or
finer -- lives in exactly one part. :func:`read_cell_partitions` opens such a
folder lazily; folders must be on storage every Dask worker reaches.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from s2vec_geo.core.schema import CELL_ID, FEATURE_COLUMNS_ATTR
from s2vec_geo.io.layers import atomic_path

PARTITION_LEVEL = 6
"""Output partitions hold whole level-6 cells (about 20,000 km2): images of
level 6 or finer never straddle two partitions."""
BUCKET_SHIFT = 64 - 3 - 2 * PARTITION_LEVEL  # face (3 bits) + 2 bits per level
"""A cell id shifted right by this many bits is its level-6 bucket."""
N_BUCKETS = 6 * 4**PARTITION_LEVEL
MANIFEST = "_partitions.json"
MANIFEST_FORMAT = "s2vec-cell-partitions"


def buckets_of(ids: np.ndarray) -> np.ndarray:
    """The level-6 bucket of each cell id (uint64), in S2 order.

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell
    >>> int(buckets_of(latlng_to_cell([60.17], [24.94], 12))[0]) < N_BUCKETS
    True
    """
    return np.asarray(ids).view(np.uint64) >> np.uint64(BUCKET_SHIFT)


def new_folder(out: str | os.PathLike) -> Path:
    """A folder that does not exist yet, in one that does; else a message with the fix."""
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


def write_manifest(
    folder: Path, level: int, columns: list[str], version: str | None, parts: list[dict[str, Any]]
) -> None:
    """Write the manifest of the parts written into ``folder``."""
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "level": level,
        "partition_level": PARTITION_LEVEL,
        FEATURE_COLUMNS_ATTR: columns,
        "taxonomy_version": version,
        "n_cells": int(sum(p["n_cells"] for p in parts)),
        "parts": parts,
    }
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))


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


def part_files(folder: str | os.PathLike) -> list[Path]:
    """The part files of a partitioned cell folder, in S2 order."""
    return [Path(folder) / p["file"] for p in read_manifest(folder)["parts"]]


def part_buckets(path: Path) -> tuple[int, int]:
    """The ``[first, stop)`` level-6 bucket range of a partition file's cells."""
    ids = pq.read_table(path, columns=[CELL_ID]).column(0).to_numpy()
    buckets = buckets_of(ids)
    return int(buckets.min()), int(buckets.max()) + 1


def read_cell_partitions(folder: str | os.PathLike) -> Any:
    """Open a partitioned cell folder lazily as a dask-geopandas GeoDataFrame.

    For one GeoPackage or GeoParquet cell layer use :func:`s2vec_geo.read_cell_layer`.

    Examples
    --------
    >>> cells = read_cell_partitions("run/cells")  # doctest: +SKIP
    >>> int(cells["poi_cafe"].sum().compute()) > 0  # doctest: +SKIP
    True
    """
    import dask_geopandas

    return dask_geopandas.read_parquet([str(p) for p in part_files(folder)])


def check_aligned(folder: str | os.PathLike, image_level: int, what: str) -> dict[str, Any]:
    """The folder's manifest, after checking that images of ``image_level`` fit in its parts."""
    manifest = read_manifest(folder)
    if image_level < manifest["partition_level"]:
        raise ValueError(
            f"{what} at image level {image_level} would straddle partitions, which hold whole "
            f"level-{manifest['partition_level']} cells; use an image level >= "
            f"{manifest['partition_level']} or the single-machine function on one layer file"
        )
    return manifest
