"""Benchmark featurize + images on Dask: synthetic continental-US features, 1 and 2 workers.

What a user at country scale runs, end to end:

1. synthetic features over the continental US are written as GeoParquet
   partitions, generated chunk by chunk (seeded): by default 50 M POIs and
   5 M straight road segments (50 files of 1 M POIs and 100 k roads). POIs are
   70 % clustered around 400 "cities" (Gaussian, 2-30 km) and 30 % uniform;
   categories and road classes follow a Zipf law over the bundled taxonomy;
   roads are 50 m - 2 km long with random bearings (``--features FOLDER``
   reuses files written before);
2. ``featurize_distributed(dask_geopandas.read_parquet(files), level=12,
   out=...)`` (map: partial counts per file, written to scratch files;
   reduce: sum by cell id; GeoParquet partitions out);
3. ``build_images_distributed(cells, 8, ...)`` (level-8 images, 16 x 16).

Both steps run with ``workers=1`` and ``workers=2`` (local clusters of
single-threaded processes, started inside the timed call as a user's call
starts them). Featurize also runs as the single-process reference,
``scheduler="synchronous"``: the same map and reduce tasks one after another
in one process, no cluster; Dask's own cost is the difference. And it runs
with the previous version (``--baseline``, a git revision; ``--baseline none``
skips it), one worker. Each featurize runs in a fresh process importing the
version it measures, and every run must give the same cells and sums. The
peak resident memory of the process tree (the process that calls, which also
runs the Dask scheduler, and every nanny and worker, sampled every 0.1 s with
psutil) and the wall time are recorded per step, with the map and reduce
phases of featurize and the load average (``uptime``) before and after. To
show where a map task's time goes, one input file is also read (geometries
decoded with the cyclic garbage collector on and paused), located (cell ids
of its points and vertices) and counted (POIs, then roads) in a single
process. Results go to ``benchmarks/results/bench_scale.json`` (atomically).

Run: ``python benchmarks/bench_scale.py`` (about 15 minutes on 2 cores);
``--pois 2000000 --roads 200000`` for a quick check.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
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
import pyarrow.parquet as pq
import shapely
from versions import ROOT, extract_version

from s2vec_geo.distributed import build_images_distributed, featurize_distributed, read_manifest
from s2vec_geo.distributed.partitions import part_files
from s2vec_geo.features.featurize import count_chunk
from s2vec_geo.ingest.taxonomy.tags import load_taxonomy
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.s2 import latlng_to_cell

US_BOX = (-125.0, 24.4, -66.9, 49.4)
LEVEL, IMAGE_LEVEL = 12, 8
CHUNK_POIS = 1_000_000
N_CITIES = 400
EARTH_KM_PER_DEG = 111.195
RESULTS = Path(__file__).resolve().parent / "results" / "bench_scale.json"
PREVIOUS = "ef81db8"  # main before the Dask overhead work (issue 15)
SINGLE = {"scheduler": "synchronous"}  # the single-process reference


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


def _seconds(step: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = step()
    return result, round(time.perf_counter() - start, 2)


def profile_input(path: Path) -> dict[str, float]:
    """Seconds to read one input file, locate and count its POIs and roads, in one process."""
    lists = load_taxonomy().feature_lists()
    warm = gpd.read_parquet(path).iloc[:10]
    count_chunk(warm, lists, LEVEL)  # load the compiled S2 kernels
    _, read_gc_on = _seconds(lambda: gpd.read_parquet(path))
    gc.disable()  # as workers do while they run a task
    try:
        frame, read = _seconds(lambda: gpd.read_parquet(path))
        coords = shapely.get_coordinates(frame.geometry.values)
        _, ids = _seconds(lambda: latlng_to_cell(coords[:, 1], coords[:, 0], LEVEL))
        _, pois = _seconds(lambda: count_chunk(frame[frame["kind"] == "poi"], lists, LEVEL))
        _, roads = _seconds(lambda: count_chunk(frame[frame["kind"] == "road"], lists, LEVEL))
    finally:
        gc.enable()
    return {
        "rows": len(frame),
        "read_s": read,
        "read_gc_on_s": read_gc_on,
        "cell_ids_s": ids,
        "count_pois_s": pois,
        "count_roads_s": roads,
    }


def timed(step: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, wall seconds, peak RSS bytes of the process tree)."""
    with PeakRSS() as mem:
        start = time.perf_counter()
        result = step()
        wall = time.perf_counter() - start
    return result, wall, mem.peak


def digest(cells: Path) -> dict[str, Any]:
    """What every run must agree on: the cells, their id sum and every feature's total."""
    manifest = read_manifest(cells)
    ids, totals = 0, np.zeros(len(manifest["feature_columns"]))
    for path in part_files(cells):
        table = pq.read_table(path, columns=["cell_id", *manifest["feature_columns"]])
        ids += int(table.column(0).to_numpy().view(np.uint64).sum(dtype=np.uint64))
        totals += [np.asarray(c.to_numpy(), np.float64).sum() for c in table.columns[1:]]
    return {
        "cells": manifest["n_cells"],
        "cell_partitions": len(manifest["parts"]),
        "cell_id_sum": ids % 2**64,
        "feature_totals": [round(float(t), 3) for t in totals],
    }


def brief(row: dict[str, Any]) -> dict[str, Any]:
    """A run's row without the per-feature totals, for printing."""
    return {k: v for k, v in row.items() if k != "feature_totals"}


def featurize_run(files: list[str], where: dict[str, Any], cells: Path) -> dict[str, Any]:
    """Time ``featurize_distributed`` of the files into ``cells`` (``where``: workers/scheduler)."""
    phases = Phases()
    logger = logging.getLogger("s2vec_geo.distributed")
    logger.addHandler(phases)
    logger.setLevel(logging.INFO)
    frame = dask_geopandas.read_parquet(files)
    load = os.getloadavg()[0]
    _, wall, peak = timed(
        lambda: featurize_distributed(
            frame, level=LEVEL, out=cells, taxonomy=load_taxonomy(), **where
        )
    )
    logger.removeHandler(phases)
    return {
        **where,
        "featurize_s": round(wall, 1),
        "featurize_peak_rss_gb": round(peak / 1e9, 2),
        "featurize_map_s": phases.seconds["map"],
        "featurize_reduce_s": phases.seconds["reduce"],
        "load_average_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
        "cells_bytes": sum(f.stat().st_size for f in cells.iterdir()),
        **digest(cells),
    }


def images_run(cells: Path, images: Path, n: int) -> dict[str, Any]:
    """Time ``build_images_distributed`` of ``cells`` on ``n`` workers."""
    ds, wall, peak = timed(lambda: build_images_distributed(cells, IMAGE_LEVEL, images, workers=n))
    return {
        "images_s": round(wall, 1),
        "images_peak_rss_gb": round(peak / 1e9, 2),
        "images": len(ds),
        "image_bytes": sum(f.stat().st_size for f in images.iterdir()),
    }


def featurize_child(code: Path, features: Path, cells: Path, where: str) -> dict[str, Any]:
    """:func:`featurize_run` in a fresh process importing ``s2vec_geo`` from ``code``.

    A process of its own: its memory is measured alone, and a version's code
    is the one imported. ``where`` is a number of workers or ``synchronous``.
    """
    command = [sys.executable, __file__, "--featurize-child", str(features), str(cells), where]
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    return json.loads(out.stdout.splitlines()[-1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="s2vec-bench-scale-"))
    try:
        features = args.features or scratch / "features"
        start = time.perf_counter()
        # generated and profiled in a child process, so its memory is not counted below
        with ProcessPoolExecutor(1) as pool:
            if args.features is None:
                features.mkdir()
                data = pool.submit(write_synthetic, features, args.pois, args.roads).result()
                data["generate_s"] = round(time.perf_counter() - start, 1)
            else:
                data = {"folder": features.name, "files": len(list(features.iterdir()))}
            data["bytes_on_disk"] = sum(f.stat().st_size for f in features.iterdir())
            data["one_input"] = pool.submit(profile_input, min(features.iterdir())).result()
        print(f"data: {data}", flush=True)
        single = featurize_child(ROOT, features, scratch / "cells-single", "synchronous")
        shutil.rmtree(scratch / "cells-single")
        print(f"single process: {brief(single)}", flush=True)
        runs = []
        for n in args.workers:
            cells, images = scratch / f"cells-{n}", scratch / f"images-{n}"
            row = {**featurize_child(ROOT, features, cells, str(n)), **images_run(cells, images, n)}
            print(brief(row), flush=True)
            runs.append(row)
            shutil.rmtree(cells)
            shutil.rmtree(images)
        base = runs[0]
        for row in runs:
            row["featurize_vs_single_process"] = round(
                row["featurize_s"] / single["featurize_s"], 2
            )
        for row in runs[1:]:
            row["featurize_speedup"] = round(base["featurize_s"] / row["featurize_s"], 2)
            row["images_speedup"] = round(base["images_s"] / row["images_s"], 2)
        previous = None
        if args.baseline != "none":
            code = extract_version(args.baseline, scratch / "previous")
            previous = featurize_child(code, features, scratch / "cells-previous", "1")
            previous["revision"] = args.baseline
            print(f"previous version: {brief(previous)}", flush=True)
        for other in filter(None, [previous, *runs]):
            same = {k: other[k] for k in ("cells", "cell_id_sum")} == {
                k: single[k] for k in ("cells", "cell_id_sum")
            }
            close = np.allclose(other["feature_totals"], single["feature_totals"], rtol=1e-9)
            if not (same and close):
                raise SystemExit(f"outputs differ from the single-process run: {other}")
        return {
            "data": data,
            "level": LEVEL,
            "image_level": IMAGE_LEVEL,
            "single_process": single,
            "runs": runs,
            "previous_version": previous,
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
    parser.add_argument("--features", type=Path, help="a folder of files written before")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--baseline", default=PREVIOUS, help="git revision to compare, or none")
    parser.add_argument("--featurize-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.featurize_child:  # the child process of featurize_child
        features, cells, where = args.featurize_child
        files = sorted(str(f) for f in Path(features).iterdir())
        kw = SINGLE if where == "synchronous" else {"workers": int(where)}
        print(json.dumps(featurize_run(files, kw, Path(cells))))
        return
    result = run(args)
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    print(json.dumps([brief(r) for r in [result["single_process"], *result["runs"]]], indent=1))


if __name__ == "__main__":
    main()
