"""Benchmark featurize + images on Dask: synthetic continental-US features, 1 and 2 workers.

What a user at country scale runs, end to end:

1. synthetic features over the continental US are written as GeoParquet
   partitions, generated chunk by chunk (seeded): by default 50 M POIs and
   5 M straight road segments (50 files of 1 M POIs and 100 k roads). POIs are
   70 % clustered around 400 "cities" (Gaussian, 2-30 km) and 30 % uniform;
   categories and road classes follow a Zipf law over the bundled taxonomy;
   roads are 50 m - 2 km long with random bearings;
2. ``featurize_distributed(dask_geopandas.read_parquet(files), level=12,
   out=...)`` (map: partial counts per file, written to scratch files;
   reduce: sum by cell id; GeoParquet partitions out);
3. ``build_images_distributed(cells, 8, ...)`` (level-8 images, 16 x 16).

Both steps run with ``workers=1`` and ``workers=2`` (local clusters of
single-threaded processes, started inside the timed call as a user's call
starts them). The peak resident memory of the whole process tree (this process,
which also runs the Dask scheduler, and every nanny and worker, sampled every
0.1 s with psutil) and the wall time are recorded per step, with the map and
reduce phases of featurize. To show where a map task's time goes, one input
file is also read and counted (POIs, then roads) in a single process. Results go
to ``benchmarks/results/bench_scale.json`` (atomically).

Run: ``python benchmarks/bench_scale.py`` (about 8 minutes on 2 cores);
``--pois 2000000 --roads 200000`` for a quick check.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import dask_geopandas
import geopandas as gpd
import numpy as np
import psutil
import shapely

from s2vec_geo.distributed import build_images_distributed, featurize_distributed, read_manifest
from s2vec_geo.features import count_chunk
from s2vec_geo.io import atomic_path
from s2vec_geo.taxonomy import load_taxonomy

US_BOX = (-125.0, 24.4, -66.9, 49.4)
LEVEL, IMAGE_LEVEL = 12, 8
CHUNK_POIS = 1_000_000
N_CITIES = 400
EARTH_KM_PER_DEG = 111.195
RESULTS = Path(__file__).resolve().parent / "results" / "bench_scale.json"


class PeakRSS:
    """Peak resident memory of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _tree_rss(self) -> int:
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._tree_rss())


def _zipf_codes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1)
    return rng.choice(k, size=n, p=p / p.sum())


def _locations(
    rng: np.random.Generator, n: int, centres: np.ndarray, spread_km: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    lng = rng.uniform(US_BOX[0], US_BOX[2], n)
    lat = rng.uniform(US_BOX[1], US_BOX[3], n)
    city = rng.random(n) < 0.7
    which = rng.integers(0, len(centres), int(city.sum()))
    sigma = spread_km[which] / EARTH_KM_PER_DEG
    lat[city] = centres[which, 1] + rng.normal(0, 1, len(which)) * sigma
    lng[city] = centres[which, 0] + rng.normal(0, 1, len(which)) * sigma / np.cos(
        np.radians(centres[which, 1])
    )
    return np.clip(lat, -89.0, 89.0), lng


def write_synthetic(folder: Path, n_pois: int, n_roads: int, seed: int = 0) -> dict[str, Any]:
    """Write features as GeoParquet partitions, one chunk at a time; return counts."""
    tax = load_taxonomy()
    rng = np.random.default_rng(seed)
    centres = np.column_stack(
        [rng.uniform(US_BOX[0], US_BOX[2], N_CITIES), rng.uniform(US_BOX[1], US_BOX[3], N_CITIES)]
    )
    spread_km = rng.uniform(2.0, 30.0, N_CITIES)
    n_files = max(1, -(-n_pois // CHUNK_POIS))
    for k in range(n_files):
        n_p = min(CHUNK_POIS, n_pois - k * CHUNK_POIS)
        n_r = n_roads // n_files + (1 if k < n_roads % n_files else 0)
        lat, lng = _locations(rng, n_p + n_r, centres, spread_km)
        length_deg = rng.uniform(0.05, 2.0, n_r) / EARTH_KM_PER_DEG
        bearing = rng.uniform(0, 2 * np.pi, n_r)
        x0, y0 = lng[n_p:], lat[n_p:]
        x1 = x0 + length_deg * np.sin(bearing) / np.cos(np.radians(y0))
        y1 = y0 + length_deg * np.cos(bearing)
        roads = shapely.linestrings(np.stack([np.c_[x0, y0], np.c_[x1, y1]], axis=1))
        geometry = np.concatenate([shapely.points(lng[:n_p], lat[:n_p]), roads])
        poi_names = np.asarray(tax.poi_categories)[_zipf_codes(rng, n_p, len(tax.poi_categories))]
        road_names = np.asarray(tax.road_classes)[_zipf_codes(rng, n_r, len(tax.road_classes))]
        frame = gpd.GeoDataFrame(
            {
                "category": np.r_[poi_names, road_names],
                "kind": np.r_[np.full(n_p, "poi"), np.full(n_r, "road")],
            },
            geometry=geometry,
            crs=4326,
        )
        frame.to_parquet(folder / f"features-{k:04d}.parquet", index=False)
    return {"pois": n_pois, "road_segments": n_roads, "files": n_files}


class Phases(logging.Handler):
    """Wall time of each phase that ``featurize_distributed`` logs (map, reduce)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "phase"):
            self.seconds[record.phase] = round(record.seconds, 1)


def profile_input(path: Path) -> dict[str, float]:
    """Seconds to read one input file and to count its POIs and its roads, in one process."""
    lists = load_taxonomy().feature_lists()
    warm = gpd.read_parquet(path).iloc[:10]
    count_chunk(warm, lists, LEVEL)  # load the compiled S2 kernels
    start = time.perf_counter()
    frame = gpd.read_parquet(path)
    read = time.perf_counter()
    count_chunk(frame[frame["kind"] == "poi"], lists, LEVEL)
    pois = time.perf_counter()
    count_chunk(frame[frame["kind"] == "road"], lists, LEVEL)
    done = time.perf_counter()
    return {
        "rows": len(frame),
        "read_s": round(read - start, 2),
        "count_pois_s": round(pois - read, 2),
        "count_roads_s": round(done - pois, 2),
    }


def timed(step: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, wall seconds, peak RSS bytes of the process tree)."""
    with PeakRSS() as mem:
        start = time.perf_counter()
        result = step()
        wall = time.perf_counter() - start
    return result, wall, mem.peak


def run(n_pois: int, n_roads: int, workers: list[int]) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="s2vec-bench-scale-"))
    try:
        features = scratch / "features"
        features.mkdir()
        start = time.perf_counter()
        # generated and profiled in a child process, so its memory is not counted below
        with ProcessPoolExecutor(1) as pool:
            data = pool.submit(write_synthetic, features, n_pois, n_roads).result()
            data["generate_s"] = round(time.perf_counter() - start, 1)
            data["bytes_on_disk"] = sum(f.stat().st_size for f in features.iterdir())
            data["one_input"] = pool.submit(profile_input, min(features.iterdir())).result()
        print(f"data: {data}", flush=True)
        phases = Phases()
        logging.getLogger("s2vec_geo.distributed").addHandler(phases)
        logging.getLogger("s2vec_geo.distributed").setLevel(logging.INFO)
        runs = []
        for n in workers:
            cells, images = scratch / f"cells-{n}", scratch / f"images-{n}"
            frame = dask_geopandas.read_parquet(sorted(str(f) for f in features.iterdir()))
            _, f_wall, f_peak = timed(
                lambda frame=frame, cells=cells, n=n: featurize_distributed(
                    frame, level=LEVEL, out=cells, taxonomy=load_taxonomy(), workers=n
                )
            )
            ds, i_wall, i_peak = timed(
                lambda cells=cells, images=images, n=n: build_images_distributed(
                    cells, IMAGE_LEVEL, images, workers=n
                )
            )
            manifest = read_manifest(cells)
            image_bytes = sum(f.stat().st_size for f in images.iterdir())
            row = {
                "workers": n,
                "featurize_s": round(f_wall, 1),
                "featurize_peak_rss_gb": round(f_peak / 1e9, 2),
                "featurize_map_s": phases.seconds["map"],
                "featurize_reduce_s": phases.seconds["reduce"],
                "images_s": round(i_wall, 1),
                "images_peak_rss_gb": round(i_peak / 1e9, 2),
                "cells": manifest["n_cells"],
                "cell_partitions": len(manifest["parts"]),
                "cells_bytes": sum(f.stat().st_size for f in cells.iterdir()),
                "images": len(ds),
                "image_bytes": image_bytes,
            }
            print(row, flush=True)
            runs.append(row)
            shutil.rmtree(cells)
            shutil.rmtree(images)
        base = runs[0]
        for row in runs[1:]:
            row["featurize_speedup"] = round(base["featurize_s"] / row["featurize_s"], 2)
            row["images_speedup"] = round(base["images_s"] / row["images_s"], 2)
        return {
            "data": data,
            "level": LEVEL,
            "image_level": IMAGE_LEVEL,
            "runs": runs,
            "machine": {
                "cpus": os.cpu_count(),
                "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
                "python": platform.python_version(),
                "note": "2 cores shared with other jobs: timings are noisy",
            },
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pois", type=int, default=50_000_000)
    parser.add_argument("--roads", type=int, default=5_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args.pois, args.roads, args.workers)
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["runs"], indent=1))


if __name__ == "__main__":
    main()
