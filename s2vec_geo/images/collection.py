"""Several image datasets trained as one: shared features, joint normalization.

A model trained across areas (``s2vec train images_a/ images_b/``) sees the
tiles of every dataset, normalized with statistics over the patch cells of
*all* of them, so that no area's scale dominates and any of them (or a new
one) is embedded on the same scale. :class:`ImageCollection` checks that the
datasets can be combined (patch level, grid, log1p, taxonomy), keeps the
features they share, computes the joint statistics from the stored raw values
and reads normalized tiles by global index. A single dataset with all its
features keeps its own statistics bit for bit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from s2vec_geo.images.dataset import ImageDataset
from s2vec_geo.images.normalization import MomentAccumulator, NormStats

log = logging.getLogger(__name__)

ImagesLike = ImageDataset | str | os.PathLike


def _open(images: Any) -> ImageDataset:
    if isinstance(images, (str, os.PathLike)):
        return ImageDataset.open(images)
    if not isinstance(images, ImageDataset):
        raise ValueError(
            f"images must be ImageDatasets (build_images) or their folders, got "
            f"{type(images).__name__}"
        )
    return images


def _common_features(datasets: Sequence[ImageDataset]) -> list[str]:
    first = list(datasets[0].feature_names)
    shared = set(first).intersection(*(set(d.feature_names) for d in datasets[1:]))
    common = [name for name in first if name in shared]
    if not common:
        raise ValueError(
            "the image datasets share no feature; build them from cells featurized with the "
            "same taxonomy (and the same `s2vec images --min-support`, or s2vec run A B ... "
            "over all areas)"
        )
    dropped = sorted(set().union(*(set(d.feature_names) for d in datasets)) - shared)
    if dropped:
        log.info(
            "training on the %d features all datasets share; %d others left out (e.g. %s)",
            len(common),
            len(dropped),
            ", ".join(dropped[:5]),
        )
    return common


def _check_compatible(datasets: Sequence[ImageDataset]) -> None:
    first = datasets[0]
    for k, ds in enumerate(datasets[1:], start=1):
        for attr in ("patch_level", "image_level"):
            if getattr(ds, attr) != getattr(first, attr):
                raise ValueError(
                    f"image dataset {k} has {attr} {getattr(ds, attr)} but dataset 0 has "
                    f"{getattr(first, attr)}; build all images at the same levels"
                )
        if ds.stats.log1p != first.stats.log1p:
            raise ValueError(
                "the image datasets mix log1p and raw normalization; build them all with "
                "the same `s2vec images --log1p` or `--no-log1p`"
            )
        known = {ds.taxonomy_version, first.taxonomy_version} - {None}  # None: not recorded
        if len(known) > 1:
            raise ValueError(
                f"image dataset {k} was counted with taxonomy {ds.taxonomy_version!r}, dataset "
                f"0 with {first.taxonomy_version!r}; featurize all areas with one taxonomy"
            )


class ImageCollection:
    """One or several image datasets with common features and joint statistics.

    Parameters
    ----------
    datasets
        :class:`ImageDataset` objects or their folders, all at the same patch
        and image levels, counted with the same taxonomy.
    stats
        Normalize with these statistics and their features (e.g. a trained
        model's) instead of the datasets' joint statistics.

    Attributes
    ----------
    datasets
        The opened datasets.
    feature_names
        The features all datasets have, in the first dataset's order.
    stats
        :class:`NormStats` over the valid patch cells of every dataset.

    Examples
    --------
    >>> import numpy as np, pandas as pd, s2vec_geo as sv
    >>> def area(lat, value):
    ...     ids = sv.cell_children(sv.latlng_to_cell(lat, 24.9, 10), 11)
    ...     return sv.build_images(pd.DataFrame({"n": np.full(4, value)},
    ...                            index=pd.Index(ids, name="cell_id")), 10)
    >>> both = ImageCollection([area(60.0, 0.0), area(61.0, 3.0)])
    >>> len(both), both.stats.count, round(float(both.stats.mean[0]), 4)
    (2, 8, 0.6931)
    """

    def __init__(
        self, datasets: Sequence[ImagesLike] | ImagesLike, stats: NormStats | None = None
    ) -> None:
        if isinstance(datasets, str) or not isinstance(datasets, Sequence):
            datasets = [datasets]
        opened = [_open(d) for d in datasets]
        if not opened:
            raise ValueError("no image datasets given; pass at least one")
        _check_compatible(opened)
        self.datasets = opened
        self.feature_names = _common_features(opened)
        if stats is not None:
            missing = sorted(set(stats.feature_names) - set(self.feature_names))
            if missing:
                raise ValueError(
                    f"the images lack features {missing[:5]} of the given statistics; build "
                    "them from cells featurized with the model's taxonomy"
                )
            self.feature_names = list(stats.feature_names)
        self._columns = [
            np.array([list(d.feature_names).index(n) for n in self.feature_names]) for d in opened
        ]
        self._offsets = np.concatenate([[0], np.cumsum([len(d) for d in opened])])
        self.stats = stats if stats is not None else self._joint_stats()

    @property
    def patch_level(self) -> int:
        """S2 level of the patch cells."""
        return self.datasets[0].patch_level

    @property
    def image_level(self) -> int:
        """S2 level of the tiles."""
        return self.datasets[0].image_level

    @property
    def grid(self) -> int:
        """Side of a tile in patch cells."""
        return self.datasets[0].grid

    @property
    def taxonomy_version(self) -> str | None:
        """Taxonomy the cells were counted with (``None`` if no dataset recorded it)."""
        return next((d.taxonomy_version for d in self.datasets if d.taxonomy_version), None)

    @property
    def parents(self) -> list[np.ndarray]:
        """Tile (image-level) cell ids of each dataset."""
        return [d.parents for d in self.datasets]

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __repr__(self) -> str:
        return (
            f"ImageCollection({len(self.datasets)} datasets, {len(self)} tiles of "
            f"{self.grid}x{self.grid}, {len(self.feature_names)} features, levels "
            f"{self.patch_level}/{self.image_level})"
        )

    def _joint_stats(self) -> NormStats:
        only = self.datasets[0]
        if len(self.datasets) == 1 and self.feature_names == list(only.feature_names):
            return only.stats
        acc = MomentAccumulator(len(self.feature_names), log1p=only.stats.log1p)
        for ds, cols in zip(self.datasets, self._columns, strict=True):
            for values in ds.valid_values():
                acc.add(values[:, cols])
        return acc.finish(self.feature_names)

    def masks(self) -> np.ndarray:
        """Bool ``(n_tiles, g*g)``: which pixels of every tile hold a cell."""
        return np.concatenate([d.masks() for d in self.datasets])

    def locate(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dataset, local index) of global tile indices."""
        index = np.asarray(index, dtype=np.int64)
        dataset = np.searchsorted(self._offsets, index, side="right") - 1
        return dataset, index - self._offsets[dataset]

    def tiles(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalized tiles by global index: ``x`` float32 ``(n, g*g, F)``, ``valid`` ``(n, g*g)``.

        Pixels without a cell are 0 in ``x`` (the feature mean after normalization).
        """
        index = np.asarray(index, dtype=np.int64)
        n, pixels = len(index), self.grid * self.grid
        x = np.zeros((n, pixels, len(self.feature_names)), dtype=np.float32)
        valid = np.zeros((n, pixels), dtype=bool)
        dataset, local = self.locate(index)
        for k, (ds, cols) in enumerate(zip(self.datasets, self._columns, strict=True)):
            rows = np.flatnonzero(dataset == k)
            if rows.size == 0:
                continue
            raw, mask = ds.read(local[rows])
            x[rows] = self.stats.apply(raw[..., cols])
            valid[rows] = mask
        x[~valid] = 0.0
        return x, valid
