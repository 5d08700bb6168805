"""Figures: the loss curve and embedding maps, written atomically."""
