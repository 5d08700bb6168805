"""Layers on disk: reading, writing atomically, locks, provenance, styles, the run folder."""
