"""Fusion of several embedding blocks into one vector (paper section 4).

- ``concat``: concatenate the blocks (length = sum of their lengths);
- ``wt-add``: multiply each block by its own learnable weight vector and add
  them element-wise (all blocks must have the same length; weights start at
  ``1 / k`` for ``k`` blocks);
- ``proj-add``: project each block with its own hidden layer (linear + ReLU)
  to a common width and add them element-wise.

The fused vector is the input of the downstream MLP head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

FUSIONS = ("concat", "wt-add", "proj-add")


class Concat(nn.Module):
    """Concatenate the blocks along the feature axis."""

    def forward(self, blocks: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(blocks), dim=1)


class WeightedAdd(nn.Module):
    """Element-wise sum of blocks scaled by learnable per-dimension weights."""

    def __init__(self, n_blocks: int, dim: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.full((n_blocks, dim), 1.0 / n_blocks))

    def forward(self, blocks: Sequence[torch.Tensor]) -> torch.Tensor:
        return sum(w * b for w, b in zip(self.weights, blocks, strict=True))


class ProjectAdd(nn.Module):
    """Project every block to ``width`` with a hidden layer, then add."""

    def __init__(self, dims: Sequence[int], width: int) -> None:
        super().__init__()
        self.projections = nn.ModuleList(
            nn.Sequential(nn.Linear(d, width), nn.ReLU()) for d in dims
        )

    def forward(self, blocks: Sequence[torch.Tensor]) -> torch.Tensor:
        return sum(p(b) for p, b in zip(self.projections, blocks, strict=True))


def make_fusion(mode: str, dims: Sequence[int], width: int) -> tuple[nn.Module, int]:
    """Build a fusion module and return it with the length of its output.

    Parameters
    ----------
    mode
        ``"concat"``, ``"wt-add"`` or ``"proj-add"``.
    dims
        Length of each input block.
    width
        Output width of ``proj-add`` (the MLP's hidden units).

    Examples
    --------
    >>> module, out = make_fusion("concat", [4, 3], width=8)
    >>> out
    7
    >>> make_fusion("proj-add", [4, 3], width=8)[1]
    8
    """
    dims = [int(d) for d in dims]
    if not dims:
        raise ValueError("fusion needs at least one embedding block")
    if mode == "concat":
        return Concat(), sum(dims)
    if mode == "wt-add":
        if len(set(dims)) != 1:
            raise ValueError(
                f"wt-add fusion needs blocks of equal length, got {dims}; use 'concat' or "
                "'proj-add' for embeddings of different sizes"
            )
        return WeightedAdd(len(dims), dims[0]), dims[0]
    if mode == "proj-add":
        return ProjectAdd(dims, width), int(width)
    raise ValueError(f"unknown fusion {mode!r}; choose one of {', '.join(FUSIONS)}")
