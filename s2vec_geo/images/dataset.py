"""The S2Vec image dataset: memory-mapped shards on disk, read lazily (by torch when training).

On-disk layout of a dataset folder (format ``s2vec-images``, version 1)::

    meta.json            format and version, levels, grid, feature names,
                         NormStats, shard list, and the files it wrote
    images-00000.npy     float32 (n, g*g, F) raw feature values (not normalized)
    mask-00000.npy       bool    (n, g*g)    True where a patch cell is present
    parents-00000.npy    int64   (n,)        parent (image-level) cell ids
    images-00001.npy     ...

``g = 2**(patch_level - image_level)``; pixel ``p = row * g + col`` of an image
is the child cell at ``cell_position(child, image_level) == (row, col)``,
i.e. ``cell_children(parent, patch_level)[p]``. Images are ordered by the
unsigned value of their parent id (S2's Hilbert curve order), shard by shard.
The shards are plain ``.npy`` files opened with ``numpy.load(mmap_mode="r")``:
only the images a training step touches are read from disk, so a dataset the
size of the paper's US one (~12,000 images of 256 x 116 float32, ~1.4 GB) never
has to fit in memory. Raw values are stored; :class:`ImageDataset` normalizes
them on the fly with the stored :class:`~s2vec_geo.images.normalization.NormStats`.

A folder is an image dataset when its ``meta.json`` says so (``"format":
"s2vec-images"``), never because a file of that name exists. The manifest's
``files`` lists what the dataset wrote there; replacing the dataset
(:func:`staging`) replaces those files only, and keeps every other file of the
folder (your notes, GeoTIFFs, a model trained into it). Datasets of earlier
releases have no ``files``: they wrote their ``meta.json`` and the shards
their manifest lists, and those are theirs. Only names of the dataset's kind
(:data:`DATASET_FILE`) are ever replaced, whatever a manifest lists.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from s2vec_geo import s2
from s2vec_geo.images.normalization import NormStats
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.io.locks import temporary_name
from s2vec_geo.io.outputs import finish_replacements, replace_in_folder

if TYPE_CHECKING:
    import torch

FORMAT_NAME = "s2vec-images"
FORMAT_VERSION = 1
META_FILE = "meta.json"
SHARD_KINDS = ("images", "mask", "parents")
FILES_KEY = "files"
DATASET_FILE = re.compile(r"meta\.json|(images|mask|parents)-\d{5}\.npy")
"""The names of the files an image dataset writes (the only ones it ever replaces)."""


def shard_files(index: int) -> dict[str, str]:
    """File names of shard ``index``: ``{"images": ..., "mask": ..., "parents": ...}``.

    Examples
    --------
    >>> shard_files(3)["mask"]
    'mask-00003.npy'
    """
    return {kind: f"{kind}-{index:05d}.npy" for kind in SHARD_KINDS}


def write_meta(root: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` into ``root`` atomically, listing the files of the dataset.

    ``files`` holds the shard files of ``meta`` and ``meta.json`` itself,
    last (the manifest is moved into place last: :func:`staging`).
    """
    shards = [shard[kind] for shard in meta["shards"] for kind in SHARD_KINDS]
    with atomic_path(root / META_FILE) as tmp:
        tmp.write_text(json.dumps({**meta, FILES_KEY: [*shards, META_FILE]}, indent=1))


def load_manifest(root: str | os.PathLike) -> dict[str, Any] | None:
    """The ``meta.json`` of an image dataset folder; ``None`` when the folder is not one.

    A folder is an image dataset only when its ``meta.json`` is a JSON object
    of format :data:`FORMAT_NAME`; any other ``meta.json`` is someone else's.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "meta.json").write_text('{"author": "me"}')
    >>> load_manifest(folder) is None
    True
    """
    try:
        meta = json.loads((Path(root) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none, unreadable, not JSON, not UTF-8
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT_NAME else None


def dataset_files(meta: dict[str, Any]) -> list[str]:
    """The files the dataset of manifest ``meta`` wrote in its folder, ``meta.json`` last.

    Its ``files``; for a dataset of an earlier release (none recorded), the
    shard files its manifest lists and ``meta.json``. Names that are not of
    the dataset's kind (:data:`DATASET_FILE`) are left out.

    Examples
    --------
    >>> dataset_files({"shards": [{**shard_files(0), "n": 3}]})
    ['images-00000.npy', 'mask-00000.npy', 'parents-00000.npy', 'meta.json']
    >>> dataset_files({"files": ["../thesis.tex", "notes.txt", "meta.json"]})
    ['meta.json']
    """
    names = meta.get(FILES_KEY)
    if names is None:
        shards = meta.get("shards")
        shards = shards if isinstance(shards, list) else []
        names = [s.get(k) for s in shards if isinstance(s, dict) for k in SHARD_KINDS]
        names.append(META_FILE)
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str) and DATASET_FILE.fullmatch(n)]


def owned_files(root: str | os.PathLike) -> list[str] | None:
    """The files of the image dataset in ``root`` (:func:`dataset_files`); ``None``: not one."""
    meta = load_manifest(root)
    return None if meta is None else dataset_files(meta)


@contextlib.contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A temporary path for a new dataset folder, put in place at ``target`` on success.

    A new ``target`` is renamed into place whole (:func:`atomic_path`). In an
    existing folder the new dataset replaces the files of the one there
    (:func:`owned_files`) and nothing else, by a swap that a kill cannot
    break (:func:`s2vec_geo.io.outputs.replace_in_folder`).
    """
    if not target.is_dir():
        with atomic_path(target) as tmp:
            yield tmp
        return
    tmp = target / temporary_name(target.resolve())
    try:
        yield tmp
        old = sorted(owned_files(target) or [], key=lambda name: name != META_FILE)
        new = dataset_files(json.loads((tmp / META_FILE).read_text(encoding="utf-8")))
        replace_in_folder(target, tmp, old, new)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def read_meta(root: str | os.PathLike) -> dict[str, Any]:
    """The checked ``meta.json`` of an image dataset folder (its shard files present).

    Examples
    --------
    >>> read_meta("no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: 'no/such/folder' is not an S2Vec image dataset (no meta.json); build ...
    """
    root = Path(root)
    meta_path = root / META_FILE
    if root.is_dir():  # a replacement that a killed run left half done: finished first
        finish_replacements(root, DATASET_FILE)
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{str(root)!r} is not an S2Vec image dataset (no {META_FILE}); "
            "build one with `s2vec images CELLS --output DIR` or s2vec_geo.build_images"
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(meta_path)!r} is format {meta.get('format')!r} version "
            f"{meta.get('version')!r}, this s2vec-geo reads {FORMAT_NAME!r} version "
            f"{FORMAT_VERSION}; rebuild the images with this version"
        )
    for shard in meta["shards"]:
        for kind in SHARD_KINDS:
            if not (root / shard[kind]).is_file():
                raise FileNotFoundError(
                    f"image dataset {str(root)!r} lacks shard file {shard[kind]!r}; "
                    "the folder is incomplete: rebuild it"
                )
    check_shard_shapes(root, meta)
    return meta


def check_shard_shapes(root: Path, meta: dict[str, Any]) -> None:
    """Refuse shard files whose shapes differ from what ``meta.json`` says they hold.

    Each shard's ``n`` images of ``grid x grid`` pixels and one channel per
    feature must be the rows of its three arrays: a wrong count would read
    past a shard's end, or leave images out, when training.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> shard = {k: f"{k}.npy" for k in SHARD_KINDS} | {"n": 3}
    >>> for kind, shape in (("images", (2, 4, 1)), ("mask", (2, 4)), ("parents", (2,))):
    ...     np.save(root / f"{kind}.npy", np.zeros(shape))
    >>> check_shard_shapes(root, {"grid": 2, "feature_names": ["shops"], "shards": [shard]})
    Traceback (most recent call last):
    ...
    ValueError: image dataset '...' is damaged: meta.json says images.npy holds 3 images ...
    """
    try:
        side, n_features = int(meta["grid"]) ** 2, len(meta["feature_names"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"image dataset {str(root)!r} is damaged: {META_FILE} has no usable grid and "
            f"feature_names ({type(exc).__name__}: {exc}); rebuild it with `s2vec images`"
        ) from None
    for shard in meta["shards"]:
        n = shard.get("n")
        expected = {"images": (n, side, n_features), "mask": (n, side), "parents": (n,)}
        for kind, shape in expected.items():
            path = root / shard[kind]
            try:
                found = np.load(path, mmap_mode="r").shape
            except ValueError as exc:
                raise ValueError(
                    f"image dataset {str(root)!r} is damaged: {shard[kind]} is not a readable "
                    f"array ({exc}); rebuild it with `s2vec images`"
                ) from None
            if found != shape:
                raise ValueError(
                    f"image dataset {str(root)!r} is damaged: {META_FILE} says {shard[kind]} "
                    f"holds {n!r} images of shape {shape[1:]}, the file holds {found}; rebuild "
                    "it with `s2vec images`"
                )


class ImageDataset:
    """S2Vec images: ``ds[i]`` is ``(x, mask)`` of the i-th parent cell, normalized.

    A map-style dataset for ``torch.utils.data.DataLoader`` (``len`` and
    ``ds[i]`` as tensors); torch is imported on the first ``ds[i]`` only, so
    building, exporting and reading images needs no torch (:meth:`normalized`
    gives the same values as NumPy arrays). Build one with
    :func:`s2vec_geo.build_images` (on disk or in memory) and reopen a folder
    with ``ImageDataset(folder)`` (or :meth:`ImageDataset.open`).

    Parameters
    ----------
    source
        A dataset folder written by ``build_images(..., out=folder)``, or the
        content of its ``meta.json`` with ``arrays`` (in memory) or ``root``.
    arrays
        In-memory shards (``{"images": ..., "mask": ..., "parents": ...}`` each).
    root
        The folder holding the shards named in ``meta``.

    Attributes
    ----------
    patch_level, image_level
        S2 levels of the pixels (patch cells) and of the images (parents).
    grid
        Side of an image in pixels, ``2 ** (patch_level - image_level)``.
    feature_names
        The feature of each channel, in order.
    stats
        The :class:`NormStats` applied by ``ds[i]``.
    taxonomy_version
        Version of the feature taxonomy the cells were counted with, if known.
    root
        The dataset folder, or ``None`` for an in-memory dataset.

    Examples
    --------
    >>> import numpy as np, pandas as pd, s2vec_geo as sv
    >>> parent = sv.latlng_to_cell(40.7, -74.0, 10)
    >>> ids = sv.cell_children(parent, 12)[:2]
    >>> cells = pd.DataFrame({"shops": [3, 0]}, index=pd.Index(ids, name="cell_id"))
    >>> ds = sv.build_images(cells, image_level=10)
    >>> x, mask = ds[0]
    >>> (tuple(x.shape), int(mask.sum()), ds.grid)
    ((16, 1), 2, 4)
    """

    def __init__(
        self,
        source: dict[str, Any] | str | os.PathLike,
        arrays: list[dict[str, np.ndarray]] | None = None,
        root: str | os.PathLike | None = None,
    ) -> None:
        if isinstance(source, (str, os.PathLike)):  # ImageDataset(folder), as open(folder)
            source, root = read_meta(source), source
        if arrays is None and root is None:
            raise ValueError("an ImageDataset needs its arrays or the folder holding them")
        meta = source
        self.meta = meta
        self.root = Path(root) if root is not None else None
        self.stats = NormStats.from_dict(meta["stats"])
        self.patch_level = int(meta["patch_level"])
        self.image_level = int(meta["image_level"])
        self.grid = int(meta["grid"])
        self.feature_names: tuple[str, ...] = tuple(meta["feature_names"])
        self.taxonomy_version: str | None = meta.get("taxonomy_version")
        counts = [int(s["n"]) for s in meta["shards"]]
        self._offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self._arrays = arrays
        self._parents: np.ndarray | None = None

    @classmethod
    def open(cls, root: str | os.PathLike) -> ImageDataset:
        """Open an image dataset folder written by ``build_images(..., out=root)``.

        The same as ``ImageDataset(root)``. The shards are memory-mapped on
        first access, not read.

        Examples
        --------
        >>> import numpy as np, pandas as pd, tempfile, s2vec_geo as sv
        >>> ids = sv.latlng_to_cell(np.array([64.14]), np.array([-21.94]), 12)
        >>> cells = pd.DataFrame({"n": [1]}, index=pd.Index(ids, name="cell_id"))
        >>> folder = tempfile.mkdtemp() + "/imgs"
        >>> _ = sv.build_images(cells, image_level=9, out=folder)
        >>> len(sv.ImageDataset.open(folder)), len(sv.ImageDataset(folder))
        (1, 1)
        """
        return cls(root)

    def __repr__(self) -> str:
        """Levels, grid, size, features and where the dataset lives.

        Examples
        --------
        >>> import numpy as np, pandas as pd, s2vec_geo as sv
        >>> ids = sv.latlng_to_cell(np.array([60.17, 60.18]), np.array([24.94, 24.95]), 16)
        >>> cells = pd.DataFrame({"n": [1, 2]}, index=pd.Index(ids, name="cell_id"))
        >>> sv.build_images(cells, image_level=12)
        ImageDataset(levels=16/12, grid=16x16, images=1, cells=2, features=1, in memory)
        """
        cells = self.meta.get("n_cells")
        where = "in memory" if self.root is None else f"root={str(self.root)!r}"
        taxonomy = "" if self.taxonomy_version is None else f"taxonomy={self.taxonomy_version}, "
        return (
            f"ImageDataset(levels={self.patch_level}/{self.image_level}, grid={self.grid}x"
            f"{self.grid}, images={len(self)}, cells={cells}, features="
            f"{len(self.feature_names)}, {taxonomy}{where})"
        )

    # -- storage -----------------------------------------------------------

    def _shards(self) -> list[dict[str, np.ndarray]]:
        if self._arrays is None:
            assert self.root is not None
            self._arrays = [
                {kind: np.load(self.root / shard[kind], mmap_mode="r") for kind in SHARD_KINDS}
                for shard in self.meta["shards"]
            ]
        return self._arrays

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started with "spawn" pickle the dataset: send the
        # folder, not the memory-mapped arrays (pickling a memmap copies it).
        state = self.__dict__.copy()
        if self.root is not None:
            state["_arrays"] = None
        return state

    def _index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"image index {i} out of range for a dataset of {n} images")
        return int(i) % n

    def _locate(self, i: int) -> tuple[dict[str, np.ndarray], int]:
        i = self._index(i)
        shard = int(np.searchsorted(self._offsets, i, side="right")) - 1
        return self._shards()[shard], i - int(self._offsets[shard])

    # -- access --------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``i`` as tensors: ``x`` float32 ``(g*g, F)`` normalized, ``mask`` bool ``(g*g,)``.

        Pixels without a cell (``mask`` False) are 0 in ``x``, the feature mean.
        """
        import torch

        x, mask = self.normalized(i)
        return torch.from_numpy(x), torch.from_numpy(mask)

    def normalized(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image ``i`` as NumPy arrays: ``ds[i]`` without torch.

        Examples
        --------
        >>> import numpy as np, pandas as pd, s2vec_geo as sv
        >>> ids = sv.latlng_to_cell(np.array([1.29]), np.array([103.85]), 12)
        >>> ds = sv.build_images(pd.DataFrame({"n": [4]}, index=pd.Index(ids, name="cell_id")), 11)
        >>> x, mask = ds.normalized(0)
        >>> x.shape, mask.tolist()
        ((4, 1), [False, False, True, False])
        """
        shard, j = self._locate(i)
        mask = np.array(shard["mask"][j])
        x = self.stats.apply(shard["images"][j])
        x[~mask] = 0.0
        return x, mask

    def raw(self, i: int) -> np.ndarray:
        """Raw (not normalized) float32 values of image ``i``, shape ``(g*g, F)``."""
        shard, j = self._locate(i)
        return np.array(shard["images"][j])

    def mask(self, i: int) -> np.ndarray:
        """Bool ``(g*g,)``: which pixels of image ``i`` hold a cell of the input."""
        shard, j = self._locate(i)
        return np.array(shard["mask"][j])

    def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw values and masks of several images: float32 ``(n, g*g, F)``, bool ``(n, g*g)``.

        Reads shard by shard (each memory-mapped shard once), whatever the order.

        Examples
        --------
        >>> import numpy as np, pandas as pd, s2vec_geo as sv
        >>> ids = sv.latlng_to_cell(np.array([1.29]), np.array([103.85]), 12)
        >>> ds = sv.build_images(pd.DataFrame({"n": [4]}, index=pd.Index(ids, name="cell_id")), 11)
        >>> raw, mask = ds.read(np.array([0, 0]))
        >>> raw.shape, int(mask.sum()), float(raw.sum())
        ((2, 4, 1), 2, 8.0)
        """
        index = np.asarray([self._index(int(i)) for i in np.atleast_1d(indices)], dtype=np.int64)
        raw = np.empty((len(index), self.grid * self.grid, len(self.feature_names)), np.float32)
        mask = np.empty((len(index), self.grid * self.grid), dtype=bool)
        shard_of = np.searchsorted(self._offsets, index, side="right") - 1
        shards = self._shards()
        for k in np.unique(shard_of):
            rows = np.flatnonzero(shard_of == k)
            local = index[rows] - self._offsets[k]
            order = np.argsort(local, kind="stable")
            raw[rows[order]] = shards[k]["images"][local[order]]
            mask[rows[order]] = shards[k]["mask"][local[order]]
        return raw, mask

    def masks(self) -> np.ndarray:
        """Bool ``(n, g*g)``: the masks of all images, in dataset order."""
        return np.concatenate([np.asarray(s["mask"]) for s in self._shards()])

    def valid_values(self, chunk: int = 256) -> Iterator[np.ndarray]:
        """Raw feature rows ``(k, F)`` of the valid pixels, ``chunk`` images at a time."""
        for shard in self._shards():
            for start in range(0, len(shard["mask"]), chunk):
                mask = np.asarray(shard["mask"][start : start + chunk])
                yield np.asarray(shard["images"][start : start + chunk])[mask]

    @property
    def parents(self) -> np.ndarray:
        """Int64 parent cell id of every image, in dataset order."""
        if self._parents is None:
            self._parents = np.concatenate(
                [np.asarray(s["parents"], dtype=np.int64) for s in self._shards()]
            )
        return self._parents

    def cells(self, i: int) -> np.ndarray:
        """Int64 ids of the ``g*g`` patch cells of image ``i`` in pixel (raster) order."""
        return s2.cell_children(self.parents[self._index(i)], self.patch_level)

    def index_of(self, parents: np.ndarray | int) -> np.ndarray:
        """Dataset positions of the given parent cell ids (ValueError if absent).

        Examples
        --------
        >>> import numpy as np, pandas as pd, s2vec_geo as sv
        >>> ids = sv.latlng_to_cell(np.array([1.29]), np.array([103.85]), 12)
        >>> ds = sv.build_images(pd.DataFrame({"n": [1]}, index=pd.Index(ids, name="cell_id")), 10)
        >>> ds.index_of(ds.parents).tolist()
        [0]
        """
        wanted = np.atleast_1d(np.asarray(parents, dtype=np.int64))
        keys = self.parents.view(np.uint64)
        pos = np.searchsorted(keys, wanted.view(np.uint64))
        pos = np.minimum(pos, len(keys) - 1)
        missing = keys[pos] != wanted.view(np.uint64)
        if missing.any():
            tokens = s2.cell_to_token(wanted[missing][:5])
            raise ValueError(
                f"{int(missing.sum())} parent cell(s) are not images of this dataset "
                f"(e.g. {list(tokens)}); list the available ones with ds.parents"
            )
        return pos
