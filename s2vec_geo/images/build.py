"""Rasterize featurized patch cells into S2Vec images of their parent cells.

Every patch cell (level ``l``) lands in exactly one image, the one of its
ancestor at the image level ``l'``, at pixel ``(row, col) =
cell_position(cell, l')``: the low ``l - l'`` bits of the cell's S2 ``(i, j)``
face coordinates. Horizontally and vertically adjacent pixels are therefore
true S2 edge neighbours, on every face and at every latitude (ordering the
children by latitude/longitude instead scrambles the picture away from the
equator). Children absent from the input are zeros with ``mask`` False.

The build streams: one pass reads only the cell ids (to find the parents and
lay out the shards), a second pass reads the features chunk by chunk and
scatters each chunk into the memory-mapped shards while accumulating the
normalization statistics. Memory use is a few chunks plus the id column,
whatever the size of the area.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio

from s2vec_geo import s2
from s2vec_geo.core.disk import DISK_BLOCK, enough_space, reserve
from s2vec_geo.core.errors import reading
from s2vec_geo.core.guards import DEFAULT_MAX_CELLS, ON_DISK, check_cells
from s2vec_geo.core.options import MIN_SUPPORT
from s2vec_geo.core.progress import progress
from s2vec_geo.core.schema import CELL_ID, cell_indexed, feature_columns, int64_ids
from s2vec_geo.images.dataset import (
    DATASET_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    META_FILE,
    ImageDataset,
    owned_files,
    shard_files,
    staging,
    write_meta,
)
from s2vec_geo.images.normalization import MomentAccumulator
from s2vec_geo.io.layers import LAYER_SUFFIXES, read_provenance, spatial_layer
from s2vec_geo.io.locks import hold
from s2vec_geo.io.outputs import check_output, finish_replacements
from s2vec_geo.io.provenance import PROVENANCE_ATTR, record_attrs
from s2vec_geo.s2.cover import sorted_unique

log = logging.getLogger(__name__)

MAX_LEVEL_GAP = 8
"""Largest ``patch_level - image_level``: 256 x 256 pixels per image."""

CELLS_FIX = "pass the GeoPackage or GeoParquet written by `s2vec featurize`"
IN_MEMORY_LIMIT_BYTES = 2**31
"""Above this size ``build_images(out=None)`` refuses and asks for a folder."""


class _CellSource:
    """Featurized patch cells, from a (Geo)DataFrame or a cell layer file."""

    def __init__(self, cells: pd.DataFrame | str | os.PathLike) -> None:
        self.frame: pd.DataFrame | None = None
        self.path: Path | None = None
        self.layer: str | None = None  # a GeoPackage's data layer, not its layer_styles
        self.taxonomy_version: str | None = None
        if isinstance(cells, pd.DataFrame):
            self.frame = cell_indexed(cells)
            self.feature_names = list(feature_columns(self.frame))
            record = cells.attrs.get(PROVENANCE_ATTR) or {}
            self.taxonomy_version = cells.attrs.get("taxonomy_version") or record.get(
                "taxonomy_version"
            )
        elif isinstance(cells, (str, os.PathLike)):
            self.path = Path(cells)
            if self.path.is_dir():
                raise ValueError(
                    f"cell layer {str(self.path)!r} is a folder; pass the GeoPackage or "
                    "GeoParquet written by `s2vec featurize` (a folder of partitions: "
                    "s2vec_geo.build_images_distributed)"
                )
            suffix = self.path.suffix.lower()
            if suffix not in LAYER_SUFFIXES:
                raise ValueError(
                    f"cannot read cells from {str(self.path)!r}: unknown extension "
                    f"{suffix!r}; use a .gpkg or .parquet cell layer"
                )
            with reading(self.path, "cell layer", missing=CELLS_FIX):
                self.layer = None if self._is_parquet() else spatial_layer(self.path)
                empty = self._read_empty()
            if CELL_ID not in empty.columns:
                raise ValueError(
                    f"{str(self.path)!r} has no cell_id column; pass a cell layer written "
                    "by `s2vec featurize` (int64 cell_id per row)"
                )
            record = read_provenance(self.path, self.layer)
            indexed = empty.set_index(CELL_ID)
            indexed.attrs.update(record_attrs(record))  # the featurized layer's columns, taxonomy
            self.taxonomy_version = record.get("taxonomy_version")
            self.feature_names = list(feature_columns(indexed))
        else:
            raise ValueError(
                f"cells must be a GeoDataFrame indexed by cell_id or a path to a cell "
                f"layer, got {type(cells).__name__}"
            )
        if not self.feature_names:
            raise ValueError(
                "the cells have no numeric feature columns; featurize them first "
                "(`s2vec featurize` or s2vec_geo.featurize)"
            )

    def _is_parquet(self) -> bool:
        return LAYER_SUFFIXES[self.path.suffix.lower()] == "Parquet"  # type: ignore[union-attr]

    def _read_empty(self) -> pd.DataFrame:
        if self._is_parquet():
            return pq.ParquetFile(self.path).schema_arrow.empty_table().to_pandas()
        return pyogrio.read_dataframe(
            self.path, layer=self.layer, read_geometry=False, max_features=0
        )

    def cell_ids(self) -> np.ndarray:
        """All cell ids, int64 (only this column is read from a file)."""
        if self.frame is not None:
            return int64_ids(self.frame.index.to_numpy())
        with reading(self.path, "cell layer") as path:
            if self._is_parquet():
                ids = pq.read_table(path, columns=[CELL_ID]).column(0).to_numpy()
            else:
                ids = pyogrio.read_dataframe(
                    path, layer=self.layer, columns=[CELL_ID], read_geometry=False
                )
                ids = ids[CELL_ID].to_numpy()
        return int64_ids(ids)

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(cell_ids int64, features float64 (n, F))`` chunks of ``size`` rows."""
        if self.frame is not None:
            for start in range(0, len(self.frame), size):
                part = self.frame.iloc[start : start + size]
                yield (
                    int64_ids(part.index.to_numpy()),
                    part[self.feature_names].to_numpy(dtype=np.float64, na_value=np.nan),
                )
            return
        columns = [CELL_ID, *self.feature_names]
        if self._is_parquet():
            reader: Any = pq.ParquetFile(self.path).iter_batches(batch_size=size, columns=columns)
            yield from (_arrow_batch(b, self.feature_names) for b in reader)
            return
        with pyogrio.open_arrow(
            self.path,
            layer=self.layer,
            columns=columns,
            read_geometry=False,
            batch_size=size,
            use_pyarrow=True,
        ) as (_, reader):
            yield from (_arrow_batch(b, self.feature_names) for b in reader)


def _arrow_batch(batch: Any, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    ids = int64_ids(batch.column(CELL_ID).to_numpy(zero_copy_only=False))
    values = np.empty((batch.num_rows, len(names)), dtype=np.float64)
    for k, name in enumerate(names):
        values[:, k] = batch.column(name).to_numpy(zero_copy_only=False)
    return ids, values


def _check_levels(ids: np.ndarray, image_level: int) -> tuple[int, int]:
    """Validate levels; return ``(patch_level, image_level)``."""
    image_level = s2.validate_level(image_level, "image_level")
    patch_level = s2.single_level(
        ids,
        "the cells mix S2 levels {levels}; images need every cell at one patch level: "
        "keep one with cells[s2vec_geo.cell_level(cells.index) == LEVEL]",
    )
    gap = patch_level - image_level
    if not 1 <= gap <= MAX_LEVEL_GAP:
        raise ValueError(
            f"image_level {image_level} with patch level {patch_level} gives a level gap of "
            f"{gap}; it must be 1 to {MAX_LEVEL_GAP} (2x2 to 256x256 pixels per image): choose "
            f"an image_level from {max(patch_level - MAX_LEVEL_GAP, 0)} to {patch_level - 1}"
        )
    return patch_level, image_level


def _check_values(values: np.ndarray, names: list[str], log1p: bool) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        col = names[int(np.nonzero(bad.any(axis=0))[0][0])]
        raise ValueError(
            f"feature {col!r} has NaN or infinite values in {int(bad.any(axis=1).sum())} "
            "cells; fill them (e.g. cells.fillna(0) for counts) before building images"
        )
    if log1p and (values < 0).any():
        col = names[int(np.nonzero((values < 0).any(axis=0))[0][0])]
        raise ValueError(
            f"feature {col!r} has negative values, but log1p normalization needs counts "
            ">= 0; pass log1p=False (--no-log1p) for signed features"
        )


def build_images(
    cells: pd.DataFrame | str | os.PathLike,
    image_level: int = 12,
    out: str | os.PathLike | None = None,
    *,
    log1p: bool = True,
    shard_size: int = 1024,
    chunk_size: int = 32_768,
    overwrite: bool = False,
    min_support: float = 0.0,
    max_cells: int | None = DEFAULT_MAX_CELLS,
    replace_earlier: bool = True,
) -> ImageDataset:
    """Build S2Vec images: one ``g x g x F`` image per parent cell at ``image_level``.

    Parameters
    ----------
    cells
        Featurized patch cells, all at one S2 level ``l``: a (Geo)DataFrame
        indexed by int64 ``cell_id`` (or with such a column), or the path of a
        ``.gpkg``/``.parquet`` cell layer written by ``s2vec featurize``.
        Features are the numeric columns other than ``cell_id``/``token``.
    image_level
        S2 level ``l'`` of the images (default 12, 16 x 16 cells of level 16;
        the paper: 8 with patch level 12);
        ``l - l'`` must be 1 to 8, giving ``g = 2 ** (l - l')`` pixels a side.
    out
        Folder to write the dataset to (memory-mapped shards, see
        :mod:`s2vec_geo.images.dataset`); ``None`` builds it in memory, for
        small areas.
    log1p
        Normalize ``log1p(count)`` instead of raw values (default: counts are
        heavy-tailed). Stored values stay raw either way.
    shard_size
        Images per shard file.
    chunk_size
        Cells read and placed at a time.
    overwrite
        Replace an existing image dataset at ``out`` (a folder whose
        ``meta.json`` is an image dataset's manifest), also when
        ``replace_earlier`` is off. Only the files the old dataset wrote are
        replaced: every other file of the folder is kept. Other non-empty
        folders are refused, as are the current folder, the folders above
        it, the home folder and a folder holding ``cells``. The folder is
        locked while it is written (:func:`s2vec_geo.io.locks.hold`): a
        second writer is refused.
    min_support
        Keep only the features that are non-zero in at least this share of
        the cells (0 keeps all, as the paper does). Rare categories are
        isolated spikes that a masked autoencoder cannot predict from context
        and that dominate the loss on small areas; e.g. 0.02 keeps 43 of the
        163 features of central Helsinki at level 18. The model records the
        features it was trained on, and embedding ignores the others.
    max_cells
        Refuse datasets of more pixels (patch cells, empty ones included:
        ``images x grid x grid``; sparse data in large images are mostly
        empty pixels); default :data:`~s2vec_geo.core.guards.DEFAULT_MAX_CELLS`.
    replace_earlier
        Replace the image dataset an earlier call wrote at ``out`` (the
        default: re-running a notebook cell works); ``False`` refuses it
        unless ``overwrite``, as the command line does.

    Returns
    -------
    ImageDataset
        Images ordered by parent id (S2 Hilbert order); ``ds.stats`` holds the
        global normalization statistics over all input cells.

    Examples
    --------
    >>> import numpy as np, pandas as pd, s2vec_geo as sv
    >>> ids = sv.cell_children(sv.latlng_to_cell(np.array([-33.87]), np.array([151.2]), 10)[0], 12)
    >>> cells = pd.DataFrame({"shops": np.arange(16.0)}, index=pd.Index(ids, name="cell_id"))
    >>> ds = sv.build_images(cells, image_level=10)
    >>> len(ds), ds.grid, bool(ds.mask(0).all())
    (1, 4, True)
    >>> bool((ds.cells(0) == ids).all())
    True
    """
    if shard_size < 1 or chunk_size < 1:
        raise ValueError("shard_size and chunk_size must be positive integers")
    check_min_support(min_support)
    source = _CellSource(cells)
    ids = source.cell_ids()
    if len(ids) == 0:
        raise ValueError("no cells to build images from; the input is empty")
    if len(sorted_unique(ids)) < len(ids):
        raise ValueError(
            "the cells repeat some cell ids; a featurized layer has one row per cell: "
            "aggregate them first (cells.groupby(level='cell_id').sum())"
        )
    patch_level, image_level = _check_levels(ids, image_level)
    with _output(out, overwrite or replace_earlier, cells) as target:
        if min_support > 0.0:
            source.feature_names = _frequent_features(source, len(ids), min_support, chunk_size)
        plan = _Plan.lay_out(source, ids, patch_level, image_level, log1p, chunk_size)
        _check_pixels(
            len(plan.parents),
            plan.grid,
            plan.n_features,
            image_level,
            max_cells,
            target is not None,
        )
        if target is None:
            return plan.in_memory()
        return plan.write(target, shard_size)


@contextlib.contextmanager
def _output(out: str | os.PathLike | None, overwrite: bool, cells: object) -> Iterator[Path | None]:
    """The dataset folder, checked and locked while it is written; ``None`` in memory."""
    if out is None:
        yield None
        return
    target = check_output(out, [cells], folder=True)
    with hold(target):
        yield _prepare_target(target, overwrite)


_SHAPES = {"images": 2, "mask": 1, "parents": 0}
_DTYPES = {"images": np.float32, "mask": np.bool_, "parents": np.int64}


@dataclass
class _Plan:
    """Where every patch cell goes: the parents (images, S2 order), their grid, the shards."""

    source: _CellSource
    n_cells: int
    parents: np.ndarray
    patch_level: int
    image_level: int
    log1p: bool
    chunk_size: int

    @classmethod
    def lay_out(
        cls,
        source: _CellSource,
        ids: np.ndarray,
        patch_level: int,
        image_level: int,
        log1p: bool,
        chunk_size: int,
    ) -> _Plan:
        # Unsigned order: the images follow S2's Hilbert curve, face by face.
        parents = sorted_unique(s2.cell_parent(ids, image_level).view(np.uint64))
        return cls(source, len(ids), parents, patch_level, image_level, log1p, chunk_size)

    @property
    def grid(self) -> int:
        return 2 ** (self.patch_level - self.image_level)

    @property
    def n_features(self) -> int:
        return len(self.source.feature_names)

    def shape(self, kind: str, n: int) -> tuple[int, ...]:
        """Shape of a shard's array of ``kind`` holding ``n`` images."""
        return (n, self.grid * self.grid, self.n_features)[: _SHAPES[kind] + 1]

    def in_memory(self) -> ImageDataset:
        """The dataset in one in-memory shard (refused above :data:`IN_MEMORY_LIMIT_BYTES`)."""
        n = len(self.parents)
        n_bytes = n * self.grid * self.grid * self.n_features * 4
        if n_bytes > IN_MEMORY_LIMIT_BYTES:
            raise ValueError(
                f"{n} images of {self.grid}x{self.grid}x{self.n_features} need "
                f"{n_bytes / 2**30:.1f} GiB; build them on disk with out=FOLDER "
                "(memory-mapped shards)"
            )
        arrays = [{kind: np.zeros(self.shape(kind, n), dtype=_DTYPES[kind]) for kind in _SHAPES}]
        return ImageDataset(self.fill(arrays, [n]), arrays=arrays)

    def write(self, target: Path, shard_size: int) -> ImageDataset:
        """Write the dataset to ``target`` as memory-mapped shards, put in place when complete."""
        n = len(self.parents)
        sizes = [min(shard_size, n - start) for start in range(0, n, shard_size)]
        need = self.disk_bytes(sizes)
        with enough_space(target.parent, need, "the image dataset"), staging(target) as tmp:
            tmp.mkdir()
            maps = [self.open_shard(tmp, k, count) for k, count in enumerate(sizes)]
            meta = self.fill(maps, sizes)
            for shard in maps:
                for array in shard.values():
                    array.flush()
            del maps
            write_meta(tmp, meta)
        return ImageDataset.open(target)

    def disk_bytes(self, sizes: list[int]) -> int:
        """Disk space of shards of ``sizes`` images: their arrays, a block for each ``.npy``
        header, and ``meta.json`` (its statistics take about 128 bytes a feature)."""
        arrays = sum(
            int(np.prod(self.shape(kind, n))) * np.dtype(_DTYPES[kind]).itemsize
            for n in sizes
            for kind in _SHAPES
        )
        headers = len(sizes) * len(_SHAPES) * DISK_BLOCK
        return arrays + headers + DISK_BLOCK + 128 * self.n_features

    def open_shard(self, folder: Path, index: int, n: int) -> dict[str, np.ndarray]:
        """Memory maps of the arrays of shard ``index`` (``n`` images) in ``folder``, their
        disk blocks reserved first (:func:`~s2vec_geo.core.disk.reserve`): a full disk is an
        ``OSError`` here, never a ``SIGBUS`` when a page of the map is written."""
        arrays = {}
        for kind, name in shard_files(index).items():
            path = folder / name
            arrays[kind] = np.lib.format.open_memmap(
                path, mode="w+", dtype=_DTYPES[kind], shape=self.shape(kind, n)
            )
            reserve(path, path.stat().st_size)
        return arrays

    def fill(self, shards: list[dict[str, np.ndarray]], sizes: list[int]) -> dict[str, Any]:
        """Scatter every chunk of cells into ``shards``; return the dataset's metadata."""
        grid, parents, names = self.grid, self.parents, self.source.feature_names
        acc = MomentAccumulator(self.n_features, log1p=self.log1p)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        for k, shard in enumerate(shards):
            shard["parents"][:] = parents[starts[k] : starts[k + 1]].view(np.int64)
        n_chunks = -(-self.n_cells // self.chunk_size)
        for batch_ids, values in progress(
            self.source.batches(self.chunk_size),
            total=n_chunks,
            desc="building images",
            unit="chunk",
        ):
            _check_values(values, names, self.log1p)
            acc.add(values)
            parent = s2.cell_parent(batch_ids, self.image_level).view(np.uint64)
            image = np.searchsorted(parents, parent)
            row, col = s2.cell_position(batch_ids, self.image_level)
            pixel = np.asarray(row, dtype=np.int64) * grid + np.asarray(col, dtype=np.int64)
            shard_of = np.searchsorted(starts, image, side="right") - 1
            for k in np.unique(shard_of):
                sel = shard_of == k
                local = image[sel] - starts[k]
                shards[k]["images"][local, pixel[sel]] = values[sel]
                shards[k]["mask"][local, pixel[sel]] = True
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "patch_level": self.patch_level,
            "image_level": self.image_level,
            "grid": grid,
            "n_images": len(parents),
            "n_cells": self.n_cells,
            "feature_names": list(names),
            "taxonomy_version": self.source.taxonomy_version,
            "stats": acc.finish(names).to_dict(),
            "shards": [{**shard_files(k), "n": n} for k, n in enumerate(sizes)],
        }


def _check_pixels(
    n_images: int,
    grid: int,
    n_features: int,
    image_level: int,
    max_cells: int | None,
    on_disk: bool,
) -> None:
    """The size guard of a dataset: every pixel is a patch cell, empty ones included."""
    check_cells(
        n_images * grid * grid,
        f"{n_images:,} images of {grid}x{grid} cells",
        bytes_per_cell=4 * n_features + 1,
        max_cells=max_cells,
        fix=f"a finer image level than {image_level} (smaller images hold fewer empty cells)",
        memory_as=ON_DISK if on_disk else "in memory",
    )


def _frequent_features(
    source: _CellSource, n_cells: int, min_support: float, chunk_size: int
) -> list[str]:
    """The source's features non-zero in at least ``min_support`` of its cells."""
    nonzero = np.zeros(len(source.feature_names), dtype=np.int64)
    for _, values in source.batches(chunk_size):
        nonzero += np.count_nonzero(values, axis=0)
    keep = [
        n for n, k in zip(source.feature_names, nonzero, strict=True) if k >= min_support * n_cells
    ]
    if not keep:
        raise ValueError(
            f"no feature is non-zero in {min_support:.0%} of the cells; lower min_support"
        )
    log.info("min_support %.3g: %d of %d features kept", min_support, len(keep), len(nonzero))
    return keep


def check_min_support(min_support: float) -> float:
    """Return ``min_support`` after checking it is a share of cells, 0 to 1.

    Examples
    --------
    >>> check_min_support(-0.5)
    Traceback (most recent call last):
    ...
    ValueError: min_support must be a share of cells from 0 to 1 (e.g. 0.02), got -0.5
    """
    if not MIN_SUPPORT.min <= min_support <= MIN_SUPPORT.max:  # also refuses NaN
        raise ValueError(
            f"min_support must be a share of cells from 0 to 1 (e.g. 0.02), got {min_support}"
        )
    return min_support


def _prepare_target(target: Path, overwrite: bool) -> Path:
    """Check that ``target`` may receive an image dataset; return it.

    A half-done replacement a killed run left there is finished first.
    """
    if not target.exists():
        return target
    if not target.is_dir():
        raise ValueError(f"output {str(target)!r} is a file; give a folder for the images")
    finish_replacements(target, DATASET_FILE)
    owned = owned_files(target)
    foreign = sorted(n for n in os.listdir(target) if DATASET_FILE.fullmatch(n))
    foreign = [n for n in foreign if n not in (owned or [])]
    if foreign:
        what = "an s2vec image dataset's" if foreign[0] == META_FILE else "its dataset's"
        raise ValueError(
            f"output folder {str(target)!r} holds a {foreign[0]} that is not {what}; choose "
            "another folder for the images (nothing there is replaced)"
        )
    if owned is not None:
        if not overwrite:
            raise ValueError(
                f"{str(target)!r} already holds an image dataset; pass overwrite=True "
                "(--overwrite) to replace it (other files there are kept) or choose another folder"
            )
        log.info("replacing the image dataset written earlier in %s", target)
    elif any(target.iterdir()):
        raise ValueError(
            f"output folder {str(target)!r} is not empty and not an image dataset; "
            "choose a new or empty folder"
        )
    return target
