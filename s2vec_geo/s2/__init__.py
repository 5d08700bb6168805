"""The S2 cell engine: ids, geometry, neighbours and coverings as NumPy arrays.

Cell ids are int64 arrays holding the 64 bits of the uint64 S2 cell id (the
way BigQuery stores them). The per-point work runs in numba kernels that match
Google's s2geometry library bit for bit; polygon coverings use s2geometry's
``S2RegionCoverer``. The kernels compile (or load from numba's cache) on
first use, not on import.

Examples
--------
>>> from s2vec_geo.s2 import latlng_to_cell, cell_to_token
>>> cell_to_token(latlng_to_cell(40.7128, -74.0060, 12))
'89c25a3'
"""

from s2vec_geo.s2.cover import cover
from s2vec_geo.s2.frame import cells_frame
from s2vec_geo.s2.geometry import cell_to_boundary, cell_to_latlng, cell_to_polygon
from s2vec_geo.s2.ids import (
    cell_children,
    cell_face_ij,
    cell_level,
    cell_parent,
    cell_position,
    cell_to_token,
    face_ij_to_cell,
    latlng_to_cell,
    single_level,
    token_to_cell,
)
from s2vec_geo.s2.neighbors import cell_edge_neighbors
from s2vec_geo.s2.points import point_cells
from s2vec_geo.s2.validation import to_lnglat, validate_level

__all__ = [
    "cell_children",
    "cell_edge_neighbors",
    "cell_face_ij",
    "cell_level",
    "cell_parent",
    "cell_position",
    "cell_to_boundary",
    "cell_to_latlng",
    "cell_to_polygon",
    "cell_to_token",
    "cells_frame",
    "cover",
    "face_ij_to_cell",
    "latlng_to_cell",
    "point_cells",
    "single_level",
    "to_lnglat",
    "token_to_cell",
    "validate_level",
]
