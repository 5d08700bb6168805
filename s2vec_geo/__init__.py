"""s2vec-geo: S2Vec embeddings of the built environment on S2 cells.

The pipeline flows one way: ingest -> S2 cells -> features -> images ->
model -> embeddings -> outputs. Importing the package registers the
``GeoDataFrame.s2vec`` accessor.
"""

from s2vec_geo.io import write_layer

__version__ = "0.1.0"

__all__ = ["__version__", "write_layer"]
