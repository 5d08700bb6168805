"""Worker for tests/test_ddp.py, launched by torchrun: train on synthetic images.

Usage: ``python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py OUT``.
Every rank saves its final weights to ``OUT/rank<r>.pt`` so the test can
compare them; the run folder itself (model.pt ...) is written by rank 0 only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from synthetic_cells import TINY_MODEL, synthetic_cells

from s2vec_geo.images import build_images
from s2vec_geo.model.training import TrainConfig, train

DDP_CONFIG = TrainConfig(
    epochs=2, batch_size=8, lr=3e-3, val_fraction=0.25, num_workers=0, model=TINY_MODEL
)


def ddp_images():
    """The image set every rank (and the single-process reference) trains on."""
    return build_images(synthetic_cells(n_parents=24, seed=5), image_level=10)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    model = train(ddp_images(), DDP_CONFIG, out=out / "run")
    rank = int(os.environ["RANK"])
    torch.save(model.module.state_dict(), out / f"rank{rank}.pt")
