"""Benchmark: engine start of the ``s2vec`` commands the QGIS algorithms run without torch.

Every QGIS algorithm runs the engine as a fresh process
(``<python> -m s2vec_geo <command> ...``), so its start-up is paid on every
run. This measures, for each command that needs no model (``cells``,
``cover``, ``featurize``, ``images``, ``geotiff``, ``join``), the wall time of
the whole process on a tiny input (two points, a handful of cells), so that
the time is the start: interpreter, imports, first numba call, reading and
writing one small layer. Best and median of ``--repeat`` fresh processes.
One more run per command under ``python -X importtime`` records which heavy
libraries it imported (torch must not be among them).

With ``--compare DIR`` (the ``s2vec_geo`` package of an earlier version
beside nothing else, e.g. ``git archive <rev> s2vec_geo | tar -x -C DIR``)
the same commands are timed with ``PYTHONPATH=DIR`` too, in alternation with
this checkout, so both see the same load; the JSON then holds both. The
version before the lazy imports (commit 742bb93) imported torch for
``images``, ``geotiff`` and ``join``. The machine is shared: the load average
is recorded before and after.

Run from the repository root with the engine's Python::

    .venv/bin/python benchmarks/bench_engine.py [--repeat 7] [--compare DIR --compare-label TEXT]

Writes ``benchmarks/results/bench_engine.json`` (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from s2vec_geo.io.layers import atomic_path, write_layer
from s2vec_geo.s2 import cell_children, cells_frame, latlng_to_cell

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "bench_engine.json"
HEAVY = ("torch", "matplotlib", "scipy", "sklearn", "numba", "pyarrow", "dask")
"""Libraries whose import is reported per command."""
TARGET_S = 1.5


def make_inputs(folder: Path) -> dict[str, list[str]]:
    """Tiny inputs and the argument list of every command timed."""
    points = gpd.GeoDataFrame(
        {"kind": ["cafe", "shop"]},
        geometry=[shapely.Point(24.94, 60.17), shapely.Point(24.95, 60.171)],
        crs=4326,
    )
    pts = write_layer(points, folder / "points.gpkg")
    parent = int(latlng_to_cell(60.17, 24.94, 13))
    cells = cells_frame(cell_children(parent, 15))
    cells["poi_cafe"] = np.arange(len(cells), dtype=np.float64) % 3
    cells["poi_shop"] = np.arange(len(cells), dtype=np.float64) % 2
    featurized = write_layer(cells, folder / "cells.gpkg")
    emb = cells_frame(cells.index.to_numpy())
    for i in range(4):
        emb[f"emb_{i:03d}"] = np.random.default_rng(i).normal(size=len(emb)).astype("float32")
    embeddings = write_layer(emb, folder / "embeddings.gpkg")
    images = folder / "images"
    engine(
        ["images", str(featurized), "--image-level", "13", "--output", str(images)], REPO, folder
    )
    out = str(folder / "out")
    return {
        "cells": ["cells", str(pts), "--level", "15", "-o", f"{out}_cells.gpkg"],
        "cover": ["cover", str(pts), "--level", "15", "-o", f"{out}_cover.gpkg"],
        "featurize": [
            "featurize",
            str(pts),
            "--category-column",
            "kind",
            "--level",
            "15",
            "-o",
            f"{out}_featurize.gpkg",
        ],
        "images": [
            "images",
            str(featurized),
            "--image-level",
            "13",
            "--overwrite",
            "-o",
            f"{out}_images",
        ],
        "geotiff": ["geotiff", str(images), "-o", f"{out}_tiffs"],
        "join": ["join", str(pts), "--embeddings", str(embeddings), "-o", f"{out}_join.gpkg"],
    }


def engine(args: list[str], source: Path, folder: Path, *flags: str) -> tuple[float, str]:
    """Wall time and standard error of one fresh engine process running ``source``'s code."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(source))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-m", "s2vec_geo", *args],
        env=env, cwd=folder, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"s2vec {' '.join(args)} failed: {done.stderr[-400:]}")
    return elapsed, done.stderr


def imported(args: list[str], source: Path, folder: Path) -> list[str]:
    """The :data:`HEAVY` libraries one run imports (from ``-X importtime``)."""
    stderr = engine(args, source, folder, "-X", "importtime")[1]
    names = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:")
    }
    return [name for name in HEAVY if name in names]


def summary(times: list[float]) -> dict[str, float]:
    """Best and median of a list of wall times, rounded to milliseconds."""
    return {"best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="folder holding an earlier s2vec_geo")
    parser.add_argument(
        "--compare-label", default="compared", help="what --compare holds (for the JSON)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    versions = {"this checkout": REPO}
    if args.compare is not None:
        versions[args.compare_label] = args.compare.resolve()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        commands = make_inputs(folder)
        times: dict[tuple[str, str], list[float]] = {(v, c): [] for v in versions for c in commands}
        for argv in commands.values():  # warm the file and bytecode caches once
            for source in versions.values():
                engine(argv, source, folder)
        for _ in range(args.repeat):
            for name, argv in commands.items():
                for label, source in versions.items():
                    times[label, name].append(engine(argv, source, folder)[0])
        result = {
            label: {
                name: {
                    **summary(times[label, name]),
                    "under_target": statistics.median(times[label, name]) < TARGET_S,
                    "imports": imported(argv, source, folder),
                }
                for name, argv in commands.items()
            }
            for label, source in versions.items()
        }
    result["setup"] = {
        "repeat": args.repeat,
        "target_s": TARGET_S,
        "compared": args.compare_label if args.compare else None,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    for label in versions:
        print(label)
        for name, row in result[label].items():
            print(f"  s2vec {name:<10} best {row['best_s']:.2f} s  median {row['median_s']:.2f} s"
                  f"  imports {', '.join(row['imports']) or '-'}")  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
