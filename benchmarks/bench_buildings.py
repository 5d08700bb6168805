"""Benchmark: building footprints cut at S2 cell edges (taxonomy v2) vs a GeoPandas overlay.

Run from the repository root::

    .venv/bin/python benchmarks/bench_buildings.py [--buildings 1000000] [--subset 20000]

1. Generate ``--buildings`` synthetic footprints (seeded): 100 towns at
   uniform random positions over central Europe, buildings normal around
   their town (1 km standard deviation); rotated rectangles (85 %) and
   L-shapes (15 %), width lognormal (sigma 0.45) around ``--widths`` metres
   (clipped to 3-150 m), aspect 1-1.8; five classes, 1-6 floor levels. With
   the default 6 m about a tenth cross a level-16 cell edge; 10 m footprints
   (median area about 70 m2) cross about twice as often. The share and the
   median footprint area are measured and reported for each width.
2. Featurize them all at ``--level`` with taxonomy v2 (count, footprint and
   floor area per class and cell: the full 186-column layer), end to end,
   after the S2 kernels are warmed up.
3. On the first ``--subset`` buildings, time the same with s2vec-geo and with
   the obvious peer: ``geopandas.overlay`` of the footprints with the polygons
   of the cells they touch (handed to it for free), both in EPSG:6933, then a
   group-by; check the two agree.

Writes a JSON report (default ``benchmarks/results/bench_buildings.json``) with
the machine load at start and end: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import s2vec_geo
from s2vec_geo.io.layers import atomic_path
from s2vec_geo.s2 import cell_to_polygon, latlng_to_cell

REGION = (5.0, 45.0, 15.0, 52.0)  # lng/lat box, central Europe
CLASSES = ("residential", "commercial", "industrial", "civic", "other")
METRES_PER_DEGREE = 111_320.0


def footprints(n: int, seed: int, width_m: float) -> gpd.GeoDataFrame:
    """``n`` building polygons with class and floor levels, as a v2 features frame."""
    rng = np.random.default_rng(seed)
    towns = np.column_stack(
        [rng.uniform(REGION[0], REGION[2], 100), rng.uniform(REGION[1], REGION[3], 100)]
    )
    town = towns[rng.integers(0, len(towns), n)]
    lat = town[:, 1] + rng.normal(0, 1000 / METRES_PER_DEGREE, n)
    lng = town[:, 0] + rng.normal(0, 1000 / METRES_PER_DEGREE, n) / np.cos(np.radians(lat))
    width = np.clip(rng.lognormal(np.log(width_m), 0.45, n), 3.0, 150.0)
    depth = width / rng.uniform(1.0, 1.8, n)
    angle = rng.uniform(0, np.pi, n)
    rect = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]])
    ell = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.0], [0.0, 0.0], [0.0, 0.5], [-0.5, 0.5]])
    ell = np.vstack([ell, ell[:1]])
    is_ell = rng.random(n) < 0.15
    polygons = np.empty(n, dtype=object)
    for shape, rows in ((rect, np.flatnonzero(~is_ell)), (ell, np.flatnonzero(is_ell))):
        x = shape[None, :, 0] * width[rows, None]
        y = shape[None, :, 1] * depth[rows, None]
        cos, sin = np.cos(angle[rows, None]), np.sin(angle[rows, None])
        east, north = x * cos - y * sin, x * sin + y * cos
        dlat = north / METRES_PER_DEGREE
        dlng = east / (METRES_PER_DEGREE * np.cos(np.radians(lat[rows, None])))
        coords = np.stack([lng[rows, None] + dlng, lat[rows, None] + dlat], axis=2)
        polygons[rows] = shapely.polygons(coords)
    frame = gpd.GeoDataFrame(
        {
            "category": pd.Categorical.from_codes(rng.integers(0, len(CLASSES), n), CLASSES),
            "kind": pd.Categorical(["building"]).repeat(n),
            "levels": rng.integers(1, 7, n).astype(np.float64),
        },
        geometry=polygons,
        crs=4326,
    )
    frame.attrs["taxonomy_version"] = "2"
    return frame


def crossing_share(frame: gpd.GeoDataFrame, level: int) -> float:
    """Share of footprints whose vertices lie in more than one cell."""
    coords, owner = shapely.get_coordinates(frame.geometry.values, return_index=True)
    cells = latlng_to_cell(coords[:, 1], coords[:, 0], level)
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    home = np.repeat(cells[first], np.diff(np.r_[first, len(owner)]))
    return float(np.bincount(owner, weights=cells != home).astype(bool).mean())


def timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def overlay_peer(frame: gpd.GeoDataFrame, cells: np.ndarray) -> pd.DataFrame:
    """Footprint area per (cell, class) with ``geopandas.overlay`` in EPSG:6933."""
    squares = gpd.GeoDataFrame({"cell_id": cells}, geometry=cell_to_polygon(cells), crs=4326)
    pieces = gpd.overlay(
        frame[["category", "geometry"]].to_crs(6933), squares.to_crs(6933), keep_geom_type=True
    )
    pieces["area"] = pieces.area
    return (
        pieces.groupby(["cell_id", "category"], observed=True)["area"].sum().unstack(fill_value=0)
    )


def bench(n: int, subset: int, level: int, seed: int, width_m: float) -> dict:
    frame = footprints(n, seed, width_m)
    s2vec_geo.featurize(frame.iloc[:1000], level=level)  # load the compiled S2 kernels
    areas = frame.to_crs(6933).area
    out: dict = {
        "buildings": n,
        "level": level,
        "median_width_m": width_m,
        "median_footprint_m2": round(float(areas.median()), 1),
        "crossing_share": round(crossing_share(frame, level), 3),
        "load_average_before": os.getloadavg()[0],
    }
    seconds, cells = timed(s2vec_geo.featurize, frame, level=level)
    out.update(featurize_s=round(seconds, 2), cells=len(cells), columns=cells.shape[1] - 2)
    total = cells[[f"building_area_m2_{c}" for c in CLASSES]].to_numpy().sum()
    out["area_sum_rel_error"] = float(abs(total / areas.sum() - 1))
    print(out, flush=True)
    part = frame.iloc[:subset]
    ours_s, ours = timed(s2vec_geo.featurize, part, level=level)
    peer_s, peer = timed(overlay_peer, part, ours.index.to_numpy())
    mine = ours[[f"building_area_m2_{c}" for c in peer.columns]].loc[peer.index].to_numpy()
    out["subset"] = {
        "buildings": subset,
        "s2vec_geo_s": round(ours_s, 2),
        "geopandas_overlay_s": round(peer_s, 2),
        "speedup": round(peer_s / ours_s, 1),
        "overlay_extrapolated_to_all_s": round(peer_s * n / subset, 1),
        "max_abs_diff_m2": float(np.abs(mine - peer.to_numpy()).max()),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--subset", type=int, default=20_000)
    parser.add_argument("--level", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--widths", type=float, nargs="+", default=[6.0, 10.0])
    parser.add_argument("--output", default="benchmarks/results/bench_buildings.json")
    args = parser.parse_args()
    machine = {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    runs = [bench(args.buildings, args.subset, args.level, args.seed, w) for w in args.widths]
    report = {"machine": machine, "runs": runs}
    machine["load_average_at_end"] = os.getloadavg()
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
