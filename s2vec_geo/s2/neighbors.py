"""Cell adjacency: the four cells sharing an edge with a cell."""

from __future__ import annotations

from typing import Any

import numpy as np

from s2vec_geo.s2.validation import as_cells, scalars_in_out


@scalars_in_out("cells")
def cell_edge_neighbors(cells: Any) -> np.ndarray:
    """Return the 4 edge neighbours of each cell as an ``(n, 4)`` int64 array.

    Columns are S2's order (``S2CellId.GetEdgeNeighbors``): the neighbours
    across the cell's bottom, right, top and left edges in its (i, j) frame,
    wrapping onto the adjacent cube face at face edges. Neighbours have the
    cell's level. One cell (a scalar id) gives its 4 neighbours as a 1-D array.

    Examples
    --------
    >>> from s2vec_geo.s2 import latlng_to_cell, cell_level
    >>> nbrs = cell_edge_neighbors(latlng_to_cell(40.7128, -74.0060, 12))
    >>> nbrs.shape, cell_level(nbrs).tolist()
    ((4,), [12, 12, 12, 12])
    >>> cell_edge_neighbors(latlng_to_cell([40.7128], [-74.0060], 12)).shape
    (1, 4)
    """
    from s2vec_geo.s2 import kernels

    array = as_cells(cells)
    out = np.empty((array.shape[0], 4), dtype=np.int64)
    kernels.edge_neighbors(array, out)
    return out
