"""Embeddings: featurized cells -> vectors, joined to any geometry, seams checked."""
