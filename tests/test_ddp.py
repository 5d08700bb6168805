"""Multi-process data-parallel training through torchrun (CPU, gloo, 2 processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from ddp_worker import DDP_CONFIG, ddp_images

from s2vec_geo.model.file import load_model
from s2vec_geo.model.training import split_indices, train

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_two_process_training_matches_one_process(tmp_path) -> None:
    images = ddp_images()
    n_train = len(split_indices(len(images), DDP_CONFIG.val_fraction, DDP_CONFIG.seed)[0])
    assert n_train % 2 == 0  # no DistributedSampler padding: same images per global step
    env = {**os.environ, "OMP_NUM_THREADS": "1", "S2VEC_PROGRESS": "lines"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*cmd, str(WORKER), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]

    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, value in rank0.items():
        assert torch.equal(value, rank1[name]), f"ranks diverged at {name}"

    run = tmp_path / "run"
    assert {"model.pt", "history.json", "loss_curve.png"} == {p.name for p in run.iterdir()}
    loaded = load_model(run)
    assert len(loaded.history) == DDP_CONFIG.epochs and "val_loss" in loaded.history[-1]

    single = train(images, DDP_CONFIG)  # the same global batch in one process
    for name, value in single.module.state_dict().items():
        got = rank0[name]
        if name.endswith("qkv.bias"):
            # The key bias adds the same amount to every logit of a query, so softmax has no
            # gradient for it: it moves only by float noise, which Adam scales to ~lr a step.
            third = value.shape[0] // 3
            keep = torch.ones_like(value, dtype=torch.bool)
            keep[third : 2 * third] = False
            got, value = got[keep], value[keep]
        torch.testing.assert_close(got, value, atol=2e-4, rtol=1e-3, msg=name)
    assert abs(single.history[-1]["train_loss"] - loaded.history[-1]["train_loss"]) < 1e-4
