"""Benchmark: OSM ingest vs pyrosm, and featurize at continental-US scale.

Run from the repository root (needs ../shared/data for the ingest part)::

    .venv/bin/python benchmarks/bench_ingest.py [--pois 10000000] [--roads 1000000]

1. Ingest the Lower Manhattan and Liechtenstein PBFs with ``read_features``
   (POIs, roads, road nodes in one pass) and with pyrosm (``get_pois`` +
   ``get_network("all")``): best of ``--repeat`` fresh processes each, imports
   excluded.
2. Featurize ``--pois`` synthetic POIs (135 categories) and ``--roads``
   synthetic two-vertex road segments (~200 m, 14 classes) over the
   continental US at level 12. Points are clustered like real places: 2,000
   towns at uniform random positions, each point normal around its town with a
   15 km standard deviation. Seeded (``--seed``), so runs are comparable.
   Both are featurized by this checkout and by the previous version
   (``--baseline``, a git revision; default: main before the featurize speed
   work), each in a fresh process that generates the same data, loads the
   compiled kernels on a small slice first and keeps the best of
   ``--repeat`` calls (wall and CPU seconds); the outputs must agree (same
   cells and counts, road lengths to 1e-9).

Writes a JSON report (default ``benchmarks/results/bench_ingest.json``) with
the load average (``uptime``) before and after each measurement.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from versions import ROOT, extract_version

import s2vec_geo
from s2vec_geo.io.layers import atomic_path

EXTRACTS = ("autark-lower-manhattan.osm.pbf", "valhalla-liechtenstein.osm.pbf")
US = (-124.7, 24.5, -66.9, 49.4)  # continental US (lng, lat) box
PREVIOUS = "ef81db8"  # main before the featurize speed work (issue 15)


OURS = """
import sys, time, s2vec_geo.ingest
start = time.perf_counter()
f = s2vec_geo.ingest.read_features(sys.argv[1])
seconds = time.perf_counter() - start
kinds = f["kind"].value_counts()
print(seconds, kinds.get("poi", 0), kinds.get("road", 0), kinds.get("node", 0))
"""
PYROSM = """
import sys, time, warnings, pyrosm
warnings.simplefilter("ignore")
start = time.perf_counter()
osm = pyrosm.OSM(sys.argv[1])
pois, roads = osm.get_pois(), osm.get_network("all")
print(time.perf_counter() - start, len(pois), len(roads))
"""


def fresh_runs(code: str, path: Path, repeat: int) -> list[float]:
    """Best time (imports excluded) over ``repeat`` fresh processes, and the counts.

    A fresh process per run: pyrosm keeps parsed data cached inside a process,
    which would make its repeated runs look several times faster than a first read.
    """
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
        )
        runs.append([float(v) for v in out.stdout.split()])
    return min(runs)


def bench_ingest(data: Path, repeat: int) -> list[dict]:
    rows = []
    for name in EXTRACTS:
        path = data / "osm" / name
        ours = fresh_runs(OURS, path, repeat)
        rosm = fresh_runs(PYROSM, path, repeat)
        rows.append(
            {
                "file": name,
                "s2vec_geo_s": round(ours[0], 3),
                "pyrosm_s": round(rosm[0], 3),
                "speedup_vs_pyrosm": round(rosm[0] / ours[0], 2),
                "s2vec_geo_pois": int(ours[1]),
                "s2vec_geo_roads": int(ours[2]),
                "s2vec_geo_road_nodes": int(ours[3]),
                "pyrosm_pois": int(rosm[1]),
                "pyrosm_roads": int(rosm[2]),
            }
        )
        print(rows[-1], flush=True)
    return rows


def synthetic(n_pois: int, n_roads: int, seed: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Clustered synthetic POIs and road segments over the continental US."""
    rng = np.random.default_rng(seed)
    tax = s2vec_geo.load_taxonomy()
    towns = np.column_stack([rng.uniform(US[0], US[2], 2_000), rng.uniform(US[1], US[3], 2_000)])

    def around(n: int) -> tuple[np.ndarray, np.ndarray]:
        town = towns[rng.integers(0, len(towns), n)]
        lat = np.clip(town[:, 1] + rng.normal(0, 0.135, n), -89.0, 89.0)
        lng = town[:, 0] + rng.normal(0, 0.135, n) / np.cos(np.radians(lat))
        return lng, lat

    lng, lat = around(n_pois)
    pois = gpd.GeoDataFrame(
        {
            "category": pd.Categorical.from_codes(
                rng.integers(0, len(tax.poi_categories), n_pois), tax.poi_categories
            ),
            "kind": pd.Categorical(["poi"]).repeat(n_pois),
        },
        geometry=shapely.points(lng, lat),
        crs=4326,
    )
    lng, lat = around(n_roads)
    angle = rng.uniform(0, 2 * np.pi, n_roads)
    step = 0.0018  # ~200 m
    ends = np.column_stack(
        [lng + step * np.cos(angle) / np.cos(np.radians(lat)), lat + step * np.sin(angle)]
    )
    coords = np.stack([np.column_stack([lng, lat]), ends], axis=1)
    roads = gpd.GeoDataFrame(
        {
            "category": pd.Categorical.from_codes(
                rng.integers(0, len(tax.road_classes), n_roads), tax.road_classes
            ),
            "kind": pd.Categorical(["road"]).repeat(n_roads),
        },
        geometry=shapely.linestrings(coords),
        crs=4326,
    )
    return pois, roads


def _digest(cells: gpd.GeoDataFrame) -> dict:
    """What must not change between versions: the cells, every count, the road lengths."""
    counts = cells.select_dtypes("int32").to_numpy()
    lengths = cells[[c for c in cells.columns if c.startswith("road_length_m_")]].to_numpy()
    return {
        "cells": len(cells),
        "cells_sha1": hashlib.sha1(cells.index.to_numpy().tobytes()).hexdigest(),
        "counts_sha1": hashlib.sha1(counts.tobytes()).hexdigest(),
        "road_length_m": float(lengths.sum()),
    }


def bench_featurize(n_pois: int, n_roads: int, seed: int, level: int, repeat: int) -> dict:
    """Featurize the synthetic POIs, then roads: best of ``repeat`` calls each (this process)."""
    pois, roads = synthetic(n_pois, n_roads, seed)
    result: dict = {}
    for name, frame in (("pois", pois), ("roads", roads)):
        frame.attrs["taxonomy_version"] = s2vec_geo.load_taxonomy().version
        # load the compiled S2 kernels first: a one-time cost per process, not per call
        s2vec_geo.featurize(frame.iloc[:1000], level=level)
        load = os.getloadavg()[0]
        runs = []
        for _ in range(repeat):
            start, cpu = time.perf_counter(), time.process_time()
            cells = s2vec_geo.featurize(frame, level=level)
            runs.append((time.perf_counter() - start, time.process_time() - cpu))
            digest = _digest(cells)
            del cells
        result[name] = {
            "seconds": round(min(w for w, _ in runs), 2),
            "cpu_seconds": round(min(c for _, c in runs), 2),
            "all_seconds": [round(w, 2) for w, _ in runs],
            "load_average_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
            **digest,
        }
    return result


def featurize_version(root: Path, args: argparse.Namespace) -> dict:
    """:func:`bench_featurize` in a fresh process importing ``s2vec_geo`` from ``root``."""
    command = [sys.executable, __file__, "--featurize-only", "--repeat", str(args.repeat)]
    for flag in ("pois", "roads", "seed", "level"):
        command += [f"--{flag}", str(getattr(args, flag))]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    return json.loads(out.stdout.splitlines()[-1])


def compare_featurize(args: argparse.Namespace) -> dict:
    """Featurize with the previous version and this checkout; check that the outputs agree."""
    with tempfile.TemporaryDirectory(prefix="s2vec-previous-") as folder:
        before = featurize_version(extract_version(args.baseline, Path(folder)), args)
    now = featurize_version(ROOT, args)
    for name in ("pois", "roads"):
        a, b = before[name], now[name]
        same = (a["cells_sha1"], a["counts_sha1"]) == (b["cells_sha1"], b["counts_sha1"])
        length = abs(a["road_length_m"] - b["road_length_m"]) <= 1e-9 * abs(a["road_length_m"])
        if not (same and length):
            raise SystemExit(f"featurize {name}: outputs differ from {args.baseline}: {a} {b}")
        print(f"{name}: {b['seconds']} s (was {a['seconds']} s), same output", flush=True)
    return {
        "level": args.level,
        "pois": args.pois,
        "road_segments": args.roads,
        "baseline": args.baseline,
        "previous": before,
        "now": now,
        "speedup_pois": round(before["pois"]["seconds"] / now["pois"]["seconds"], 2),
        "speedup_roads": round(before["roads"]["seconds"] / now["roads"]["seconds"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="shared data folder")
    parser.add_argument("--pois", type=int, default=10_000_000)
    parser.add_argument("--roads", type=int, default=1_000_000)
    parser.add_argument("--level", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", default=PREVIOUS, help="git revision to compare with")
    parser.add_argument("--skip-ingest", action="store_true", help="featurize only")
    parser.add_argument("--featurize-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", default="benchmarks/results/bench_ingest.json")
    args = parser.parse_args()
    if args.featurize_only:  # the child process of featurize_version
        featurized = bench_featurize(args.pois, args.roads, args.seed, args.level, args.repeat)
        print(json.dumps(featurized))
        return
    ingest = not args.skip_ingest and Path(args.data).is_dir()
    report = {
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
        },
        "ingest": bench_ingest(Path(args.data), args.repeat) if ingest else [],
        "featurize": compare_featurize(args),
    }
    report["machine"]["load_average_at_end"] = os.getloadavg()
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
