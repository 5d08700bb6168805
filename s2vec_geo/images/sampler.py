"""Training batches: windows of patch cells drawn from the tiles of image datasets.

:class:`TileStore` holds the normalized tiles and gathers window tokens from
them: *resident* (every tile loaded once into memory, on the training device,
when it fits; batches are then drawn without touching the host) or *streamed*
(the tiles a batch needs are read from the memory-mapped shards, so a dataset
larger than memory trains too). :class:`WindowSampler` draws the windows: the
training tiles in a random order each epoch, each the anchor of one window at
a random offset (``windows="sliding"``) or the tile itself (``"aligned"``, the
paper's recipe); held-out tiles are holes in every training window, and the
validation batches are the held-out tiles themselves.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from s2vec_geo.core.options import WINDOWS
from s2vec_geo.images.collection import ImageCollection
from s2vec_geo.images.windows import LatticeIndex, draw_offsets, tile_tokens

Batch = Any
"""A training batch: ``(x, valid)`` tensors."""
WINDOW_MODES = WINDOWS.choices
"""How training windows are placed: at random offsets (default) or on the tiles."""
RESIDENT_CPU_BYTES = 4 * 2**30
"""Largest dataset kept in memory for CPU training (also at most a quarter of RAM)."""


def resident_budget(device: torch.device) -> int:
    """Bytes of normalized tiles that may be loaded onto ``device`` at once.

    Half of the free memory of a GPU; on the CPU, the smaller of
    :data:`RESIDENT_CPU_BYTES` and a quarter of the physical memory.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 2)
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 4 * RESIDENT_CPU_BYTES
    return int(min(RESIDENT_CPU_BYTES, ram // 4))


def prefetched(batches: Iterator[Batch], depth: int = 2) -> Iterator[Batch]:
    """Make up to ``depth`` batches ahead in a background thread, in order.

    Reading tiles from the shards (and copying them to a GPU) then overlaps
    with the training step instead of waiting for it.

    Examples
    --------
    >>> list(prefetched(iter([1, 2, 3])))
    [1, 2, 3]
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            for batch in batches:
                ready.put(batch)
        except BaseException as exc:  # handed to the consumer, raised there
            ready.put(exc)
        ready.put(done)

    threading.Thread(target=produce, daemon=True).start()
    while (item := ready.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


class TileStore:
    """Normalized tiles of an :class:`ImageCollection`, gathered by window token.

    Parameters
    ----------
    collection
        The tiles.
    device
        Where gathered batches go.
    preload
        ``True``: load every tile onto ``device`` once; ``False``: read the
        tiles of each batch from the shards; ``None`` (default): preload when
        the tiles fit :func:`resident_budget`.
    """

    def __init__(
        self, collection: ImageCollection, device: torch.device, preload: bool | None = None
    ) -> None:
        self.collection = collection
        self.device = device
        self.pixels = collection.grid * collection.grid
        n_features = len(collection.feature_names)
        need = len(collection) * self.pixels * 4 * n_features
        self.resident = need <= resident_budget(device) if preload is None else bool(preload)
        # Masks (one byte a pixel) always live on the device: windows are checked there.
        masks = torch.from_numpy(collection.masks().reshape(-1))
        self.valid = torch.cat([masks, torch.zeros(1, dtype=torch.bool)]).to(device)
        if self.resident:
            self.x = self._load_all(n_features)

    def _load_all(self, n_features: int) -> torch.Tensor:
        n_tokens = len(self.collection) * self.pixels
        x = torch.zeros((n_tokens + 1, n_features), dtype=torch.float32, device=self.device)
        for start in range(0, len(self.collection), 512):
            index = np.arange(start, min(start + 512, len(self.collection)))
            tx, _ = self.collection.tiles(index)
            rows = slice(start * self.pixels, (start + len(index)) * self.pixels)
            x[rows] = torch.from_numpy(tx.reshape(-1, n_features)).to(self.device)
        return x

    def _holes(self, tokens: torch.Tensor) -> torch.Tensor:
        hole = self.valid.shape[0] - 1
        return torch.where(tokens >= 0, tokens, torch.full_like(tokens, hole))

    def validity(self, tokens: torch.Tensor) -> torch.Tensor:
        """Bool ``(B, L)``: which window tokens hold a cell."""
        return self.valid[self._holes(tokens)]

    def gather(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Values ``(B, L, F)`` and validity ``(B, L)`` of window tokens (-1: a hole)."""
        if self.resident:
            index = self._holes(tokens)
            return self.x[index], self.valid[index]
        flat = tokens.cpu()
        tiles = torch.unique(torch.div(flat[flat >= 0], self.pixels, rounding_mode="floor"))
        tx, _ = self.collection.tiles(tiles.numpy())
        n_features = tx.shape[-1]
        x = torch.cat([torch.from_numpy(tx.reshape(-1, n_features)), torch.zeros(1, n_features)])
        local = torch.searchsorted(tiles, torch.div(flat, self.pixels, rounding_mode="floor"))
        index = torch.where(flat >= 0, local * self.pixels + flat % self.pixels, len(x) - 1)
        xb = x[index]
        if self.device.type == "cuda":
            xb = xb.pin_memory().to(self.device, non_blocking=True)
        return xb, self.validity(tokens)


class WindowSampler:
    """Training and validation windows over the tiles of an :class:`ImageCollection`.

    Parameters
    ----------
    collection
        The image datasets.
    train_tiles, val_tiles
        Global indices of the training tiles (window anchors) and of the
        held-out tiles (holes in every training window; scored aligned).
    windows
        ``"sliding"``: each epoch every training tile anchors one window at a
        random offset in ``[-g/2, g/2)`` per axis; ``"aligned"``: the tiles
        themselves (the paper's images).
    device
        Where batches are made.
    preload
        See :class:`TileStore`.

    Examples
    --------
    >>> import numpy as np, pandas as pd, torch, s2vec_geo as sv
    >>> parent = sv.latlng_to_cell(48.2, 16.4, 9)
    >>> ids = sv.cell_children(parent, 12)
    >>> cells = pd.DataFrame({"n": np.arange(64.0)}, index=pd.Index(ids, name="cell_id"))
    >>> col = ImageCollection(sv.build_images(cells, 10))
    >>> s = WindowSampler(col, np.arange(3), np.array([3]), device=torch.device("cpu"))
    >>> [tuple(x.shape) for x, _ in s.train_batches(torch.Generator().manual_seed(0), 2)]
    [(2, 16, 1), (1, 16, 1)]
    """

    def __init__(
        self,
        collection: ImageCollection,
        train_tiles: np.ndarray,
        val_tiles: np.ndarray,
        *,
        windows: str = "sliding",
        device: torch.device,
        preload: bool | None = None,
    ) -> None:
        if windows not in WINDOW_MODES:
            raise ValueError(f"unknown windows {windows!r}; use one of {WINDOW_MODES}")
        if len(train_tiles) == 0:
            raise ValueError("no training tiles; build images from a larger area")
        self.windows = windows
        self.grid = collection.grid
        self.device = device
        self.tiles = LatticeIndex(collection.parents, collection.image_level, device)
        self.train_tiles = torch.as_tensor(np.asarray(train_tiles, dtype=np.int64))
        self.val_tiles = torch.as_tensor(np.asarray(val_tiles, dtype=np.int64))
        allowed = torch.zeros(len(collection), dtype=torch.bool)
        allowed[self.train_tiles] = True
        self.allowed = allowed.to(device)
        self.store = TileStore(collection, device, preload)

    def steps(self, batch_size: int, world: int = 1) -> int:
        """Optimizer steps per epoch for a global ``batch_size`` over ``world`` processes."""
        padded = -(-len(self.train_tiles) // world) * world
        return -(-padded // batch_size)

    def _aligned(self, anchors: torch.Tensor) -> torch.Tensor:
        t = self.tiles
        i0, j0 = t.i[anchors] * self.grid, t.j[anchors] * self.grid
        return tile_tokens(t, t.group[anchors], t.face[anchors], i0, j0, self.grid)

    def tokens(self, anchors: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Tokens of the windows at ``offsets`` from tiles ``anchors``; held-out tiles are holes."""
        t = self.tiles
        i0 = t.i[anchors] * self.grid + offsets[0]
        j0 = t.j[anchors] * self.grid + offsets[1]
        return tile_tokens(t, t.group[anchors], t.face[anchors], i0, j0, self.grid, self.allowed)

    def draw(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """An epoch's anchors (training tiles, random order) and offsets ``(2, n)``, on the CPU."""
        n = len(self.train_tiles)
        anchors = self.train_tiles[torch.randperm(n, generator=generator)]
        if self.windows == "sliding":
            return anchors, draw_offsets(n, self.grid, generator)
        return anchors, torch.zeros((2, n), dtype=torch.int64)

    def train_batches(
        self, generator: torch.Generator, batch_size: int, rank: int = 0, world: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of training batches ``(x, valid)``: this process's share of each global batch.

        ``generator`` (CPU) draws the order and the offsets, so one seed gives
        the same windows on every device and process count.
        """
        anchors, offsets = self.draw(generator)
        pad = -(-len(anchors) // world) * world - len(anchors)  # as DistributedSampler
        anchors = torch.cat([anchors, anchors[:pad]]).to(self.device)
        offsets = torch.cat([offsets, offsets[:, :pad]], dim=1).to(self.device)
        takes = (slice(s + rank, s + batch_size, world) for s in range(0, len(anchors), batch_size))
        batches = (self._batch(anchors[t], offsets[:, t]) for t in takes)
        yield from (batches if self.store.resident else prefetched(batches))

    def _batch(
        self, anchors: torch.Tensor, offsets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.tokens(anchors, offsets)
        empty = ~self.store.validity(tokens).any(dim=1)
        if self.windows == "sliding" and bool(empty.any()):
            # A window that caught no cell falls back to its anchor tile (never empty).
            tokens = torch.where(empty[:, None], self._aligned(anchors), tokens)
        return self.store.gather(tokens)

    def val_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The held-out tiles, aligned, in a fixed order: ``(x, valid)`` batches."""
        tiles = self.val_tiles.to(self.device)
        for start in range(0, len(tiles), batch_size):
            yield self.store.gather(self._aligned(tiles[start : start + batch_size]))
