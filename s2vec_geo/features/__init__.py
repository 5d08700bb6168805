"""Per-cell features: a features frame -> one row per cell, one column per feature."""
