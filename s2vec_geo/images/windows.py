"""Windows: ``grid x grid`` blocks of patch cells at any offset on a cube face.

An image dataset stores *tiles*: the ``g x g`` children of every image-level
parent, the child at pixel ``(row, col)`` having ``(row, col)`` as the low
bits of its face coordinates ``(i, j)``. So every patch cell has a place on
its cube face's ``2**patch_level``-square lattice, and a *window* is any
``g x g`` block of that lattice: the cells with ``i0 <= i < i0 + g`` and
``j0 <= j < j0 + g``. A tile is the window whose origin ``(i0, j0)`` is a
multiple of ``g`` (an *aligned* window); any other origin straddles two or
four tiles, possibly in different shards, which :class:`LatticeIndex` finds
by their face coordinates.

Windows never leave their cube face: positions beyond a face edge are holes,
like cells absent from the data. A cell on a face edge is therefore seen with
the neighbours of its own face only; S2's (i, j) frame turns at face edges,
and face edges run through oceans and a few land areas (e.g. parts of the
Americas and Asia) where windows are cut short.

Training draws one window around every training tile each epoch, at a random
offset in ``[-g/2, g/2)`` along each axis (:func:`draw_offsets`): the random
crop of image models. Over an epoch every cell is covered once on average
(exactly once where all neighbouring tiles are trained on), at a uniformly
random position of its window and with a random neighbourhood. Inference
slides windows over the lattice with a ``stride`` (:func:`sliding_origins`)
and blends each cell's outputs with :func:`blend_weights`.

All functions work on torch tensors on any device, so training on a GPU
draws its windows where the data lives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from s2vec_geo.s2 import cell_face_ij, face_ij_to_cell, single_level

_KEY_BITS = 63
"""Bits of an int64 lattice key: group and face above ``2 * level`` bits of (i, j)."""


class LatticeIndex:
    """Find S2 cells of one level by ``(group, face, i, j)``.

    The cells of each group (e.g. the tiles of one of several image datasets)
    are numbered consecutively in the order given, group after group.

    Parameters
    ----------
    groups
        One int64 array of cell ids per group, all at ``level``.
    level
        S2 level of the cells.
    device
        Where the lookup tables live (``locate`` takes tensors there).

    Examples
    --------
    >>> import numpy as np, torch, s2vec_geo as sv
    >>> cells = sv.cell_children(sv.latlng_to_cell(60.17, 24.94, 10), 11)
    >>> index = LatticeIndex([cells], 11)
    >>> f, i, j = (torch.from_numpy(a) for a in sv.cell_face_ij(cells))
    >>> index.locate(torch.zeros_like(f), f, i, j).tolist()
    [0, 1, 2, 3]
    >>> index.locate(torch.zeros_like(f), f, i + 2, j).tolist()
    [-1, -1, -1, -1]
    """

    def __init__(
        self, groups: Sequence[np.ndarray], level: int, device: torch.device | str = "cpu"
    ) -> None:
        self.level = int(level)
        self.side = 1 << self.level
        if (len(groups) * 6) > (1 << (_KEY_BITS - 2 * self.level)):
            raise ValueError(
                f"{len(groups)} groups of level-{self.level} cells do not fit one lattice key; "
                "combine fewer image datasets or use a coarser image level"
            )
        parts = [cell_face_ij(np.asarray(ids, dtype=np.int64)) for ids in groups]
        group = np.concatenate([np.full(len(p[0]), k) for k, p in enumerate(parts)])
        face, i, j = (np.concatenate([p[n] for p in parts]) for n in range(3))  # (n,) each
        keys = self._keys_np(group, face, i, j)
        order = np.argsort(keys, kind="stable")  # keys[order] sorted: searchsorted finds a cell
        if (np.diff(keys[order]) == 0).any():
            raise ValueError("a group repeats a cell; pass each cell once per group")
        self.group = torch.from_numpy(group.astype(np.int64)).to(device)
        self.face = torch.from_numpy(face).to(device)
        self.i = torch.from_numpy(i).to(device)
        self.j = torch.from_numpy(j).to(device)
        self._sorted = torch.from_numpy(keys[order]).to(device)
        self._order = torch.from_numpy(order.astype(np.int64)).to(device)

    def __len__(self) -> int:
        return int(self.face.shape[0])

    def _keys_np(self, group: np.ndarray, face: np.ndarray, i: np.ndarray, j: np.ndarray):
        b = self.level
        # key bits, high to low: group * 6 + face | i (b bits) | j (b bits)
        return ((group * 6 + face) << (2 * b)) | (i << b) | j

    def locate(
        self, group: torch.Tensor, face: torch.Tensor, i: torch.Tensor, j: torch.Tensor
    ) -> torch.Tensor:
        """Index of the cell at each ``(group, face, i, j)``; -1 where none (or off the face)."""
        b = self.level
        inside = (i >= 0) & (i < self.side) & (j >= 0) & (j < self.side)  # on the face
        # the key of _keys_np, clamped so that off-face (i, j) still make a valid key
        key = ((group * 6 + face) << (2 * b)) | (i.clamp(0, self.side - 1) << b)
        key = key | j.clamp(0, self.side - 1)
        pos = torch.searchsorted(self._sorted, key).clamp(max=len(self) - 1)  # same shape as i
        found = inside & (self._sorted[pos] == key)  # present, not just where it would go
        return torch.where(found, self._order[pos], torch.full_like(pos, -1))

    def to(self, device: torch.device | str) -> LatticeIndex:
        """Move the lookup tables to ``device`` (in place); returns ``self``."""
        for name in ("group", "face", "i", "j", "_sorted", "_order"):
            setattr(self, name, getattr(self, name).to(device))
        return self


def _window_ij(i0: torch.Tensor, j0: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lattice coordinates ``(B, g*g)`` of the windows with origins ``(i0, j0)``, raster order."""
    r = torch.arange(grid, device=i0.device)
    i = (i0[:, None, None] + r[None, :, None]).expand(-1, grid, grid)  # (n, grid, grid): row
    j = (j0[:, None, None] + r[None, None, :]).expand(-1, grid, grid)  # (n, grid, grid): column
    return i.reshape(len(i0), -1), j.reshape(len(j0), -1)  # (n, grid * grid), row-major


def tile_tokens(
    tiles: LatticeIndex,
    group: torch.Tensor,
    face: torch.Tensor,
    i0: torch.Tensor,
    j0: torch.Tensor,
    grid: int,
    allowed: torch.Tensor | None = None,
) -> torch.Tensor:
    """Tokens of windows over stored tiles: ``tile * g*g + pixel``, or -1 for holes.

    Parameters
    ----------
    tiles
        Index of the tiles (image-level cells) by face position.
    group, face, i0, j0
        ``(B,)`` dataset group, cube face and patch-level origin of each window.
    grid
        Window and tile side ``g``.
    allowed
        Optional bool per tile: tiles marked False are holes (held-out blocks).

    Returns
    -------
    torch.Tensor
        int64 ``(B, g*g)`` in raster order of the window.

    Examples
    --------
    >>> import numpy as np, torch, s2vec_geo as sv
    >>> parent = sv.latlng_to_cell([40.7], [-74.0], 10)  # one tile, as an array
    >>> tiles = LatticeIndex([parent], 10)
    >>> f, ti, tj = (torch.from_numpy(a) for a in sv.cell_face_ij(parent))
    >>> tok = tile_tokens(tiles, torch.zeros(1, dtype=torch.long), f, ti * 2 + 1, tj * 2, 2)
    >>> tok.tolist()  # the window's top row is the tile's bottom row; its bottom row is a hole
    [[2, 3, -1, -1]]
    """
    i, j = _window_ij(i0, j0, grid)
    # (n, grid * grid): the tile each window pixel falls in (floor: negative i too)
    ti, tj = torch.div(i, grid, rounding_mode="floor"), torch.div(j, grid, rounding_mode="floor")
    n = i.shape[1]
    tile = tiles.locate(group[:, None].expand(-1, n), face[:, None].expand(-1, n), ti, tj)
    if allowed is not None:
        tile = torch.where(allowed[tile.clamp(min=0)], tile, torch.full_like(tile, -1))
    pixel = (i - ti * grid) * grid + (j - tj * grid)  # row-major pixel inside that tile
    # (n, grid * grid) token = tile * grid^2 + pixel, the row of flattened tile pixels; -1: none
    return torch.where(tile >= 0, tile * (grid * grid) + pixel, torch.full_like(tile, -1))


def cell_tokens(
    cells: LatticeIndex, face: torch.Tensor, i0: torch.Tensor, j0: torch.Tensor, grid: int
) -> torch.Tensor:
    """Rows of ``cells`` in each window, int64 ``(B, g*g)`` in raster order; -1 for holes."""
    i, j = _window_ij(i0, j0, grid)
    n = i.shape[1]
    group = torch.zeros_like(i)
    return cells.locate(group, face[:, None].expand(-1, n), i, j)


def draw_offsets(n: int, grid: int, generator: torch.Generator) -> torch.Tensor:
    """Random window offsets ``(2, n)`` in ``[-g/2, g/2)`` from a tile's origin (CPU tensor).

    Drawn on the CPU so that a seed gives the same windows on every device.

    Examples
    --------
    >>> off = draw_offsets(1000, 8, torch.Generator().manual_seed(0))
    >>> int(off.min()), int(off.max())
    (-4, 3)
    """
    return torch.randint(-(grid // 2), grid - grid // 2, (2, n), generator=generator)


def check_stride(stride: int, grid: int) -> int:
    """Validate an inference stride: a power of two from 1 to ``grid``.

    Examples
    --------
    >>> check_stride(8, 16)
    8
    """
    stride = int(stride)
    if stride < 1 or stride > grid or grid % stride or stride & (stride - 1):
        options = [2**k for k in range(grid.bit_length()) if 2**k <= grid]
        raise ValueError(
            f"stride {stride} does not tile windows of {grid} cells; use one of {options} "
            f"({grid} = aligned windows, {max(grid // 2, 1)} = the default overlap)"
        )
    return stride


def sliding_origins(
    face: np.ndarray, i: np.ndarray, j: np.ndarray, grid: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window origin on the ``stride`` lattice whose window holds one of the cells.

    Each cell lies in exactly ``(grid / stride) ** 2`` of the returned windows
    (windows may reach past the face edge; those positions are holes).

    Returns
    -------
    tuple of numpy.ndarray
        ``(face, i0, j0)`` int64, sorted by face, then ``i0``, then ``j0``.

    Examples
    --------
    >>> import numpy as np
    >>> f, i0, j0 = sliding_origins(np.array([0]), np.array([5]), np.array([5]), 4, 2)
    >>> list(zip(i0.tolist(), j0.tolist()))
    [(2, 2), (2, 4), (4, 2), (4, 4)]
    """
    stride = check_stride(stride, grid)
    steps = np.arange(grid // stride, dtype=np.int64) * stride  # (k,) origin offsets per axis
    base_i = (i // stride) * stride  # (n,) each cell's i rounded down to the stride
    base_j = (j // stride) * stride
    # (n, k, k): every origin (base - di, base - dj) whose window holds the cell
    oi = (base_i[:, None, None] - steps[None, :, None]).repeat(len(steps), axis=2)
    oj = (base_j[:, None, None] - steps[None, None, :]).repeat(len(steps), axis=1)
    of = np.broadcast_to(face[:, None, None], oi.shape).ravel()
    oi, oj = oi.ravel(), oj.ravel()
    order = np.lexsort((oj, oi, of))  # by face, then i, then j: duplicates side by side
    of, oi, oj = of[order], oi[order], oj[order]
    first = np.ones(len(of), dtype=bool)
    first[1:] = (np.diff(of) != 0) | (np.diff(oi) != 0) | (np.diff(oj) != 0)
    return of[first], oi[first], oj[first]


def blend_weights(grid: int, stride: int) -> torch.Tensor:
    """Weight of each window position when blending overlapping windows, ``(g*g,)``.

    A separable tent, ``w(r) = 1 - |r + 1/2 - g/2| / (g/2)`` per axis (from
    ``1/g`` at the window edge to ``1 - 1/g`` at its centre), as sliding-window
    inference in segmentation weights towards the window centre. With the
    default stride ``g/2`` the weights of the two windows covering a cell
    along an axis sum to one, so blending interpolates linearly between
    window outputs and nothing jumps where windows meet. With ``stride == grid``
    (aligned windows) every cell is in one window and the weights are 1.

    Examples
    --------
    >>> blend_weights(4, 2).reshape(4, 4)[0].tolist()
    [0.0625, 0.1875, 0.1875, 0.0625]
    """
    if stride >= grid:
        return torch.ones(grid * grid)
    r = torch.arange(grid, dtype=torch.float64) + 0.5  # (grid,) pixel centres
    tent = 1.0 - (r - grid / 2).abs() / (grid / 2)
    return (tent[:, None] * tent[None, :]).reshape(-1).float()  # (grid * grid,) row-major


def surrounding_tiles(tiles: np.ndarray) -> np.ndarray:
    """The tiles around ``tiles`` (8-neighbours on the same cube face) not among them.

    Windows over ``tiles`` reach at most one tile beyond them, so these hold
    every cell that sliding windows over ``tiles`` can see.

    Examples
    --------
    >>> import s2vec_geo as sv
    >>> len(surrounding_tiles(sv.latlng_to_cell(48.2, 16.4, 10)))
    8
    """
    tiles = np.unique(np.asarray(tiles, dtype=np.int64))
    level = single_level(tiles, "the tiles mix S2 levels {levels}; pass tiles of one level")
    face, i, j = cell_face_ij(tiles)
    side = 1 << level
    found = []
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            ni, nj = i + di, j + dj
            inside = (ni >= 0) & (ni < side) & (nj >= 0) & (nj < side)
            found.append(face_ij_to_cell(face[inside], ni[inside], nj[inside], level))
    return np.setdiff1d(np.unique(np.concatenate(found)), tiles)
