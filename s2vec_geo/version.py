"""The s2vec-geo version: one place, read by the package, the model file and the build."""

__version__ = "0.1.0"
