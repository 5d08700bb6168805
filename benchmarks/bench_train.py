"""Benchmark: training images/s and embedding cells/s per window mode, on CPU and CUDA.

First, CPU training throughput of this checkout against an earlier version
(``--baseline``, default: main before the thread-tuning work of issue 22), in
the same run: the default training settings (sliding windows, the default
network and batch) on the same cells, each version in fresh processes that
alternate, on an idle machine and next to one busy process (a laptop doing
other work, where OpenMP threads spin-waiting on a busy core were the waste
the step profile showed). Images/s counts training windows (one per training
tile and epoch) over the whole ``train`` call, its start-up included.

Then, images are paper-shaped -- 16 x 16 patch cells (patch level 14 in level-10
images) with 116 features -- built from real S2 cells with random counts by
the real pipeline (``build_images``); the model is the paper's (Table 1).
Results go to ``benchmarks/results/bench_train.json`` with the device facts;
a table is printed.

Run: ``python benchmarks/bench_train.py [--images 96] [--gpu-images 2048] [--compare-only]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from versions import ROOT, extract_version

import s2vec_geo as sv
from s2vec_geo.embeddings.embed import embed
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.model.training import TrainConfig, split_indices, train

PREVIOUS = "402aaae"  # main before the CPU thread tuning (issue 22)
RESULTS = Path(__file__).resolve().parent / "results" / "bench_train.json"
N_FEATURES = 116
PATCH_LEVEL, IMAGE_LEVEL = 14, 10


def paper_cells(n_images: int, seed: int = 0) -> pd.DataFrame:
    """Featurized cells filling ``n_images`` adjacent level-10 images (a city-like block).

    The images are the first ``n_images`` children (raster order) of one
    coarser cell in the contiguous US, so sliding windows overlap their
    neighbours as they do over a real area.
    """
    rng = np.random.default_rng(seed)
    depth = max(1, int(np.ceil(np.log(n_images) / np.log(4))))
    block = sv.latlng_to_cell(np.array([39.0]), np.array([-98.0]), IMAGE_LEVEL - depth)[0]
    parents = sv.cell_children(block, IMAGE_LEVEL)[:n_images]
    ids = np.concatenate([sv.cell_children(p, PATCH_LEVEL) for p in parents])
    counts = rng.poisson(rng.gamma(0.3, 2.0, N_FEATURES), (len(ids), N_FEATURES))
    columns = [f"f{i:03d}" for i in range(N_FEATURES)]
    return pd.DataFrame(counts, columns=columns, index=pd.Index(ids, name="cell_id"))


def _timed(fn: Any, device: str) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def bench_device(device: str, n_images: int) -> dict[str, Any]:
    """Train one epoch per window mode and data path, embed every cell per mode, on ``device``.

    Training: aligned tiles (the paper's images, the previous version's only
    path) against sliding windows, with the tiles preloaded onto the device
    and streamed from the memory-mapped shards. Embedding: aligned windows
    against sliding windows at strides ``grid / 2`` (the default) and
    ``grid / 4``, and the paper's patch embedding.
    """
    cells = paper_cells(n_images)
    folder = Path(tempfile.mkdtemp(prefix="bench_train-"))
    images = sv.build_images(cells, image_level=IMAGE_LEVEL, out=folder / "images")
    base = TrainConfig(epochs=1, val_fraction=0.0, device=device)
    train(images, base)  # warm-up: allocator, kernels (and the CUDA context) before timing
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    rows: dict[str, Any] = {
        "device": device,
        "images": len(images),
        "grid": images.grid,
        "features": N_FEATURES,
        "cells": len(cells),
    }
    model = None
    for name, windows, preload in (
        ("aligned", "aligned", True),
        ("sliding", "sliding", True),
        ("sliding_streamed", "sliding", False),
    ):
        config = replace(base, windows=windows, preload=preload)
        model, seconds = _timed(lambda c=config: train(images, c), device)
        rows[f"train_{name}_images_per_s"] = len(images) / seconds
    assert model is not None
    model.module.to(device)
    grid = images.grid
    for name, options in (
        ("aligned", {"windows": "aligned"}),
        ("sliding", {"windows": "sliding", "stride": grid // 2}),
        ("sliding_quarter", {"windows": "sliding", "stride": grid // 4}),
        ("patch", {"mode": "patch"}),
    ):
        out, seconds = _timed(lambda o=options: embed(cells, model, **o), device)
        rows[f"embed_{name}_cells_per_s"] = len(out) / seconds
    shutil.rmtree(folder)
    return rows


def cpu_throughput(cells_path: Path, epochs: int, threads: str) -> dict[str, float]:
    """Train the default settings on the cells at ``cells_path`` (this process's version).

    Runs in the child process of :func:`version_throughput`; the images are
    built first, untimed. ``threads``: ``cpu_threads``, or ``"-"`` for the
    version's default (earlier versions have no such setting).
    """
    cells = pd.read_parquet(cells_path)
    extra = {} if threads == "-" else {"cpu_threads": threads}
    with tempfile.TemporaryDirectory(prefix="bench_train-") as folder:
        images = sv.build_images(cells, image_level=IMAGE_LEVEL, out=Path(folder) / "images")
        config = TrainConfig(epochs=epochs, seed=0, init="none", device="cpu", **extra)
        start = time.perf_counter()
        train(images, config)
        seconds = time.perf_counter() - start
    windows = epochs * len(split_indices(len(images), config.val_fraction, config.seed)[0])
    return {"seconds": seconds, "images_per_s": windows / seconds}


def version_throughput(
    root: Path, cells_path: Path, epochs: int, threads: str = "-"
) -> dict[str, float]:
    """:func:`cpu_throughput` in a fresh process importing ``s2vec_geo`` from ``root``.

    The child imports ``s2vec_geo`` before anything else, as the ``s2vec``
    command and a script that starts with ``import s2vec_geo`` do (next to a
    busy core, processes that imported torch first were always at the slow
    end, with either version).
    """
    child = [str(cells_path), str(epochs), threads]
    start = (
        "import os, sys, runpy, s2vec_geo; sys.argv = sys.argv[1:]; "
        "sys.path.insert(0, os.path.dirname(sys.argv[0])); "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    command = [sys.executable, "-c", start, __file__, "--throughput-child", *child]
    env = {**os.environ, "PYTHONPATH": str(root), "S2VEC_PROGRESS": "none"}
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    return json.loads(out.stdout.splitlines()[-1])


VERSIONS = (("before", False, "-"), ("after", True, "all"), ("after_auto", True, "auto"))
"""Compared: the earlier version's default, this one's and ``cpu_threads="auto"``."""

BUSY = "while True: pass"
"""The other work of the loaded condition: one process keeping a core busy."""


def compare_cpu(baseline: str, n_images: int, epochs: int, repeat: int) -> dict[str, Any]:
    """CPU training images/s of ``baseline`` and this checkout, idle and next to a busy core."""
    result: dict[str, Any] = {"baseline": baseline, "images": n_images, "epochs": epochs}
    with tempfile.TemporaryDirectory(prefix="s2vec-previous-") as folder:
        previous = extract_version(baseline, Path(folder) / "previous")
        cells_path = Path(folder) / "cells.parquet"
        paper_cells(n_images).to_parquet(cells_path)
        for condition in ("idle", "one_busy_core"):
            load = round(os.getloadavg()[0], 2)
            busy = None
            if condition != "idle":
                busy = subprocess.Popen([sys.executable, "-c", BUSY])
            try:
                runs: dict[str, list[float]] = {name: [] for name, _, _ in VERSIONS}
                for _ in range(repeat):  # alternate, so drifts in load hit all alike
                    for name, now, threads in VERSIONS:
                        root = ROOT if now else previous
                        rate = version_throughput(root, cells_path, epochs, threads)
                        runs[name].append(rate["images_per_s"])
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            rates = {name: float(np.median(r)) for name, r in runs.items()}
            result[condition] = {
                "load_average_before_after": [load, round(os.getloadavg()[0], 2)],
                **{f"{name}_images_per_s": round(rate, 1) for name, rate in rates.items()},
                **{
                    f"speedup_{name}": round(rate / rates["before"], 2)
                    for name, rate in rates.items()
                    if name != "before"
                },
                "runs": runs,
            }
            said = ", ".join(f"{name} {rate:.1f}" for name, rate in rates.items())
            print(f"CPU training images/s, {condition}: {said}", flush=True)
    return result


def device_facts() -> dict[str, Any]:
    """Where the numbers were measured."""
    facts: dict[str, Any] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(0)
    return facts


def _write(result: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    print(f"written to {RESULTS.name} in benchmarks/results/")


def main() -> None:
    """Run the benchmark, write the JSON, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96, help="images for the CPU run")
    parser.add_argument("--gpu-images", type=int, default=2048, help="images for the CUDA run")
    parser.add_argument("--baseline", default=PREVIOUS, help="git revision to compare with")
    parser.add_argument("--compare-images", type=int, default=64, help="images, comparison")
    parser.add_argument("--compare-epochs", type=int, default=20, help="epochs a comparison run")
    parser.add_argument("--repeat", type=int, default=3, help="comparison runs per version")
    parser.add_argument("--compare-only", action="store_true", help="skip the device runs")
    parser.add_argument("--throughput-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.throughput_child:  # the child process of version_throughput
        cells_path, epochs, threads = args.throughput_child
        print(json.dumps(cpu_throughput(Path(cells_path), int(epochs), threads)))
        return
    comparison = compare_cpu(args.baseline, args.compare_images, args.compare_epochs, args.repeat)
    result: dict[str, Any] = {"benchmark": "bench_train", "facts": device_facts()}
    result["cpu_before_after"] = comparison
    if args.compare_only:
        _write(result)
        return
    runs = [bench_device("cpu", args.images)]
    if torch.cuda.is_available():
        runs.append(bench_device("cuda", args.gpu_images))
    else:
        print("no CUDA device: GPU benchmark skipped (recorded as cuda_available=false)")
    result["runs"] = runs
    _write(result)
    keys = [k for k in runs[0] if k.endswith("_per_s")]
    print(f"{'device':8} {'images':>7} " + " ".join(f"{k[:-6]:>26}" for k in keys))
    for r in runs:
        print(f"{r['device']:8} {r['images']:7d} " + " ".join(f"{r[k]:26.1f}" for k in keys))


if __name__ == "__main__":
    main()
