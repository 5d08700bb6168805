"""Benchmark the S2 cell engine against s2geometry.

Measures, in one run:

* lat/lng -> level-12 cell id for 10 M random points (generated in 1 M
  chunks, seed 0) with ``latlng_to_cell`` (numba), against s2geometry called
  once per point on a 200 k subsample (rate scaled);
* the numba warm-up (first call: compile, or load from numba's cache),
  reported separately and excluded from the timings;
* covering the continental-US bounding box (-125..-66.9, 24.4..49.4) at
  level 12 with ``cover`` against a raw ``S2RegionCoverer`` on the same
  ``S2LatLngRect``, and a California-sized polygon with ``cover``.

Prints a table and writes ``benchmarks/results/bench_s2.json`` (atomically).
Run: ``python benchmarks/bench_s2.py``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import s2geometry as s2
import shapely

from s2vec_geo.io.layers import atomic_path
from s2vec_geo.s2 import cover, latlng_to_cell

N_POINTS = 10_000_000
CHUNK = 1_000_000
N_REFERENCE = 200_000
LEVEL = 12
US_BOX = (-125.0, 24.4, -66.9, 49.4)
CALIFORNIA = [
    (-124.2, 42.0), (-120.0, 42.0), (-120.0, 39.0), (-114.6, 35.0), (-114.1, 34.3),
    (-114.7, 32.7), (-117.1, 32.5), (-118.5, 34.0), (-120.6, 34.6), (-122.5, 37.5),
    (-123.8, 39.8), (-124.4, 40.4),
]  # fmt: skip
RESULTS = Path(__file__).resolve().parent / "results" / "bench_s2.json"


def random_chunk(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform on the sphere, in degrees."""
    return np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n))), rng.uniform(-180.0, 180.0, n)


def bench_points() -> dict[str, float]:
    start = time.perf_counter()
    latlng_to_cell([0.0], [0.0], LEVEL)
    warmup = time.perf_counter() - start

    rng = np.random.default_rng(0)
    elapsed = 0.0
    for _ in range(N_POINTS // CHUNK):
        lat, lng = random_chunk(rng, CHUNK)
        start = time.perf_counter()
        latlng_to_cell(lat, lng, LEVEL)
        elapsed += time.perf_counter() - start

    lat, lng = random_chunk(np.random.default_rng(1), N_REFERENCE)
    cell_id, from_degrees = s2.S2CellId, s2.S2LatLng.FromDegrees
    pairs = list(zip(lat.tolist(), lng.tolist(), strict=True))
    start = time.perf_counter()
    for a, b in pairs:
        cell_id(from_degrees(a, b)).parent(LEVEL).id()
    reference = time.perf_counter() - start
    ours_rate = N_POINTS / elapsed
    s2_rate = N_REFERENCE / reference
    return {
        "numba_warmup_s": warmup,
        "ours_seconds_10M": elapsed,
        "ours_million_points_per_s": ours_rate / 1e6,
        "s2geometry_million_points_per_s": s2_rate / 1e6,
        "s2geometry_seconds_10M_scaled": N_POINTS / s2_rate,
        "speedup": ours_rate / s2_rate,
    }


def bench_cover() -> dict[str, float]:
    west, south, east, north = US_BOX
    cover(shapely.box(0.0, 0.0, 0.01, 0.01), LEVEL)  # imports, first use
    start = time.perf_counter()
    ours = cover(shapely.box(*US_BOX), LEVEL)
    ours_s = time.perf_counter() - start

    rect = s2.S2LatLngRect(
        s2.S2LatLng.FromDegrees(south, west), s2.S2LatLng.FromDegrees(north, east)
    )
    coverer = s2.S2RegionCoverer()
    coverer.set_fixed_level(LEVEL)
    coverer.set_max_cells(2**31 - 1)
    start = time.perf_counter()
    raw = coverer.GetCovering(rect)
    raw_s = time.perf_counter() - start
    raw_ids = np.fromiter((c.id() for c in raw), dtype=np.uint64, count=len(raw))
    assert np.array_equal(np.sort(raw_ids.view(np.int64)), ours), "cover differs from s2geometry"

    start = time.perf_counter()
    california = cover(shapely.Polygon(CALIFORNIA), LEVEL)
    california_s = time.perf_counter() - start
    return {
        "us_box_cells": len(ours),
        "us_box_cover_s": ours_s,
        "us_box_raw_coverer_s": raw_s,
        "california_cells": len(california),
        "california_cover_s": california_s,
    }


def main() -> dict:
    points = bench_points()
    covers = bench_cover()
    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": version("numba"),
            "s2geometry": version("s2geometry"),
            "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)),
            "load_average_1min_at_end": os.getloadavg()[0],  # the machine may be shared
        },
        "points": points,
        "cover": covers,
    }
    rows = [
        ("numba warm-up (excluded)", f"{points['numba_warmup_s']:.2f} s"),
        ("latlng_to_cell, 10 M points", f"{points['ours_seconds_10M']:.2f} s"),
        ("  rate", f"{points['ours_million_points_per_s']:.1f} M points/s"),
        (
            "s2geometry per point (200 k, scaled)",
            f"{points['s2geometry_seconds_10M_scaled']:.1f} s",
        ),
        ("  rate", f"{points['s2geometry_million_points_per_s']:.2f} M points/s"),
        ("  speed-up", f"{points['speedup']:.0f}x"),
        (
            f"US box, level 12 ({covers['us_box_cells']:,} cells): cover",
            f"{covers['us_box_cover_s']:.2f} s",
        ),
        ("  raw S2RegionCoverer.GetCovering", f"{covers['us_box_raw_coverer_s']:.2f} s"),
        (
            f"California, level 12 ({covers['california_cells']:,} cells)",
            f"{covers['california_cover_s']:.2f} s",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
