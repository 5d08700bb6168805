"""Benchmark: the QuackOSM (columnar) route vs the PBF route, side by side.

Run from the repository root (needs ../shared/data and the ``quackosm`` extra)::

    .venv/bin/python benchmarks/bench_quackosm.py [--repeat 3]

For each extract, in fresh processes (imports excluded; best of ``--repeat``):

1. QuackOSM's own PBF -> GeoParquet conversion
   (:func:`s2vec_geo.ingest.quack.pbf_to_geoparquet`, offline), with the
   taxonomy's keys as the tags filter (the default) and with no filter (every
   tagged object, all tags); best of ``--convert-repeat``.
2. ``read_features`` on the PBF (pyosmium) and on both GeoParquet files, with
   taxonomy v2 (POIs, roads, road nodes, buildings, land use).

The shared extracts are small (0.2-1.3 MB), so QuackOSM's fixed start-up
dominates its time. To see how both routes grow, the same is measured on
``--tiles`` copies of the Liechtenstein extract side by side (ids offset,
each copy shifted 0.5 degrees east; built with pyosmium before timing).

Also records file sizes, feature counts of both routes and the load average
(the machine is shared: timings are noisy). Writes JSON (default
``benchmarks/results/bench_quackosm.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import osmium

from s2vec_geo.io.layers import atomic_path

EXTRACTS = (
    "srai-monaco.osm.pbf",
    "valhalla-liechtenstein.osm.pbf",
    "graphhopper-andorra.osm.pbf",
    "graphhopper-krems.osm.pbf",
    "autark-lower-manhattan.osm.pbf",
)
SAMPLE = Path("examples/data/helsinki.osm.pbf")
TILED = "valhalla-liechtenstein.osm.pbf"

CONVERT = """
import sys, time
from s2vec_geo.ingest.quack import pbf_to_geoparquet
if __name__ == "__main__":
    start = time.perf_counter()
    taxonomy = None if sys.argv[3] == "none" else sys.argv[3]
    pbf_to_geoparquet(sys.argv[1], sys.argv[2], taxonomy=taxonomy, ignore_cache=True)
    print(time.perf_counter() - start)
"""
READ = """
import sys, time, s2vec_geo.ingest
start = time.perf_counter()
f = s2vec_geo.ingest.read_features(sys.argv[1], taxonomy="v2")
seconds = time.perf_counter() - start
kinds = f["kind"].value_counts()
print(seconds, *(kinds.get(k, 0) for k in ("poi", "road", "node", "building", "landuse")))
"""
KINDS = ("poi", "road", "node", "building", "landuse")


def best(code: str, args: list[str], repeat: int) -> list[float]:
    """The run with the smallest first number (seconds) over ``repeat`` fresh processes."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
        )
        runs.append([float(v) for v in out.stdout.split()])
    return min(runs)


def bench_extract(pbf: Path, work: Path, repeat: int, convert_repeat: int) -> dict:
    stem = pbf.name.split(".")[0]
    row: dict = {"file": pbf.name, "pbf_bytes": pbf.stat().st_size}
    read_pbf = best(READ, [str(pbf)], repeat)
    row["pbf_read_s"] = round(read_pbf[0], 3)
    row["pbf_features"] = dict(zip(KINDS, map(int, read_pbf[1:]), strict=True))
    for variant, taxonomy in (("filtered", "v2"), ("all_tags", "none")):
        out = work / f"{stem}.{variant}.parquet"
        convert = best(CONVERT, [str(pbf), str(out), taxonomy], convert_repeat)
        read = best(READ, [str(out)], repeat)
        row[f"quackosm_convert_{variant}_s"] = round(convert[0], 2)
        row[f"parquet_{variant}_bytes"] = out.stat().st_size
        row[f"parquet_{variant}_read_s"] = round(read[0], 3)
        row[f"parquet_{variant}_features"] = dict(zip(KINDS, map(int, read[1:]), strict=True))
    print(row, flush=True)
    return row


def tile_pbf(pbf: Path, out: Path, copies: int, step: float = 0.5) -> Path:
    """``copies`` of ``pbf`` side by side: ids offset, copy k shifted ``k * step`` degrees east."""
    offset = 10**10
    with osmium.SimpleWriter(str(out)) as writer:
        for kind in (osmium.osm.NODE, osmium.osm.WAY, osmium.osm.RELATION):
            for k in range(copies):
                off = k * offset
                for obj in osmium.FileProcessor(str(pbf), kind):
                    if obj.is_node() and obj.location.valid():
                        loc = (obj.location.lon + k * step, obj.location.lat)
                        writer.add_node(obj.replace(id=obj.id + off, location=loc))
                    elif obj.is_way():
                        nodes = [n.ref + off for n in obj.nodes]
                        writer.add_way(obj.replace(id=obj.id + off, nodes=nodes))
                    elif obj.is_relation():
                        members = [(m.type, m.ref + off, m.role) for m in obj.members]
                        writer.add_relation(obj.replace(id=obj.id + off, members=members))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="shared data folder")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per read")
    parser.add_argument("--convert-repeat", type=int, default=2)
    parser.add_argument("--tiles", type=int, default=16, help="copies of Liechtenstein (0: none)")
    parser.add_argument("--output", default="benchmarks/results/bench_quackosm.json")
    args = parser.parse_args()
    pbfs = [SAMPLE, *(Path(args.data) / "osm" / name for name in EXTRACTS)]
    pbfs = [p for p in pbfs if p.is_file()]
    report = {
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
        },
        "taxonomy": "v2",
    }
    with tempfile.TemporaryDirectory(prefix="bench-quackosm-") as work:
        report["extracts"] = [
            bench_extract(p, Path(work), args.repeat, args.convert_repeat) for p in pbfs
        ]
        source = Path(args.data) / "osm" / TILED
        if args.tiles and source.is_file():
            start = time.perf_counter()
            name = f"liechtenstein-x{args.tiles}.osm.pbf"
            tiled = tile_pbf(source, Path(work) / name, args.tiles)
            print(f"tiled {args.tiles} copies in {time.perf_counter() - start:.0f} s", flush=True)
            report["tiled"] = bench_extract(tiled, Path(work), args.repeat, args.convert_repeat)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    with atomic_path(args.output) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
