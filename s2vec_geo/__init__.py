"""s2vec-geo: S2Vec embeddings of the built environment on S2 cells.

The pipeline flows one way: ingest -> S2 cells -> features -> images ->
model -> embeddings -> outputs. Importing the package registers the
``GeoDataFrame.s2vec`` accessor.
"""

from s2vec_geo.images import ImageDataset, NormStats, build_images, export_geotiff
from s2vec_geo.io import write_layer
from s2vec_geo.s2 import (
    cell_children,
    cell_edge_neighbors,
    cell_level,
    cell_parent,
    cell_position,
    cell_to_boundary,
    cell_to_latlng,
    cell_to_polygon,
    cell_to_token,
    cells_frame,
    cover,
    latlng_to_cell,
    token_to_cell,
    validate_level,
)

__version__ = "0.1.0"

__all__ = [
    "ImageDataset",
    "NormStats",
    "__version__",
    "build_images",
    "cell_children",
    "cell_edge_neighbors",
    "cell_level",
    "cell_parent",
    "cell_position",
    "cell_to_boundary",
    "cell_to_latlng",
    "cell_to_polygon",
    "cell_to_token",
    "cells_frame",
    "cover",
    "export_geotiff",
    "latlng_to_cell",
    "token_to_cell",
    "validate_level",
    "write_layer",
]
