"""Small featurized-cell frames on real S2 cells with spatially smooth random counts.

Shared by the model, training, embedding and DDP tests: the counts follow
smooth patterns inside each parent cell (so a masked autoencoder can learn to
fill in masked cells from their neighbours), and some cells are missing (so
images have invalid pixels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import s2vec_geo as sv

FEATURES = ["shops", "roads", "schools", "bars"]
TINY_MODEL = {
    "embed_dim": 32,
    "depth": 2,
    "num_heads": 4,
    "decoder_dim": 16,
    "decoder_depth": 1,
    "dropout": 0.0,
}


def synthetic_cells(
    n_parents: int = 24,
    patch_level: int = 13,
    image_level: int = 10,
    seed: int = 0,
    drop: float = 0.1,
) -> pd.DataFrame:
    """Featurized patch cells (indexed by int64 ``cell_id``) of ``n_parents`` images."""
    rng = np.random.default_rng(seed)
    lat = 40.70 + 0.25 * (np.arange(n_parents) // 6)
    lng = -74.0 + 0.25 * (np.arange(n_parents) % 6)
    parents = np.unique(sv.latlng_to_cell(lat, lng, image_level))
    g = 2 ** (patch_level - image_level)
    ids, rows = [], []
    for p in parents:
        children = sv.cell_children(p, patch_level)
        r, c = np.divmod(np.arange(g * g), g)
        phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.9)
        level_ = np.exp(1.5 * np.sin(freq * r + phase) + np.cos(freq * c - phase))
        lam = np.stack([20 * level_, 5 + 20 * c / g, 2 * level_, 10 * (r + c) / g], axis=1)
        counts = rng.poisson(lam).astype(np.float64)
        keep = rng.random(g * g) >= drop
        ids.append(children[keep])
        rows.append(counts[keep])
    frame = pd.DataFrame(
        np.concatenate(rows), columns=FEATURES, index=pd.Index(np.concatenate(ids), name="cell_id")
    )
    frame.attrs["taxonomy_version"] = "synthetic-1"
    return frame
