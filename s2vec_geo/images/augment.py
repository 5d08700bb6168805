"""Dihedral augmentation of training windows: the 8 rotations and flips of a square.

Built form has no preferred orientation, and the S2 (i, j) axes of a window
point in different compass directions on different cube faces (and even
swap between faces), so a model trained on one area sees the next one
turned. Each training window is therefore drawn in one of the eight
symmetries of the square (four rotations, each with or without a mirror),
chosen at random per window. A symmetry permutes the tokens of a window and
keeps the lattice: cells that were edge neighbours stay edge neighbours, so a
transformed window is still a window of true S2 neighbours, only seen turned
(``tests/test_windows.py`` checks this with real cell ids).
"""

from __future__ import annotations

import torch

N_SYMMETRIES = 8
"""Rotations by 0, 90, 180, 270 degrees, each with and without a mirror."""


def dihedral_permutations(grid: int) -> torch.Tensor:
    """Token orders of the 8 symmetries of a ``grid x grid`` window: long ``(8, g*g)``.

    Row ``k`` lists, for every output position (row-major), the input token it
    takes: ``k % 4`` quarter turns, mirrored (columns reversed first) when ``k >= 4``.
    Row 0 is the identity.

    Examples
    --------
    >>> dihedral_permutations(2)[:4].tolist()   # the four turns
    [[0, 1, 2, 3], [1, 3, 0, 2], [3, 2, 1, 0], [2, 0, 3, 1]]
    >>> dihedral_permutations(2)[4:].tolist()   # mirrored, then turned
    [[1, 0, 3, 2], [0, 2, 1, 3], [2, 3, 0, 1], [3, 1, 2, 0]]
    """
    index = torch.arange(grid * grid).reshape(grid, grid)  # (g, g): token of each position
    orders = []
    for k in range(N_SYMMETRIES):
        turned = index.flip(1) if k >= 4 else index  # mirror: reverse the columns
        orders.append(torch.rot90(turned, k % 4, dims=(0, 1)).reshape(-1))  # (g*g,)
    return torch.stack(orders)


def random_symmetries(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` symmetries drawn uniformly (long, on the generator's device).

    Draw them for a whole global batch and give each process its share, so that
    a data-parallel run turns every window as one process would.
    """
    return torch.randint(N_SYMMETRIES, (n,), generator=generator, device=generator.device)


def dihedral(
    x: torch.Tensor, valid: torch.Tensor, pick: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn each window of a batch by its symmetry of the square.

    Parameters
    ----------
    x
        Windows ``(B, g*g, F)``.
    valid
        Bool ``(B, g*g)``: which tokens hold a cell.
    pick
        Long ``(B,)``: each window's symmetry, 0-7 (:func:`random_symmetries`;
        see :func:`dihedral_permutations` for the numbering).

    Returns
    -------
    tuple of torch.Tensor
        ``x`` and ``valid`` with each window's tokens permuted alike.

    Examples
    --------
    >>> x = torch.arange(8.0).reshape(2, 4, 1)
    >>> valid = torch.ones(2, 4, dtype=torch.bool)
    >>> y, v = dihedral(x, valid, torch.tensor([2, 0]))  # half a turn, then none
    >>> y[:, :, 0].tolist(), bool(v.all())
    ([[3.0, 2.0, 1.0, 0.0], [4.0, 5.0, 6.0, 7.0]], True)
    """
    grid = round(valid.shape[1] ** 0.5)  # windows are g x g tokens
    order = dihedral_permutations(grid).to(x.device)[pick.to(x.device)]  # (B, g*g)
    x = torch.gather(x, 1, order[..., None].expand(-1, -1, x.shape[-1]))  # (B, g*g, F)
    return x, torch.gather(valid, 1, order)
