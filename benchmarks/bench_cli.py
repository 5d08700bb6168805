"""Benchmark the start of the ``s2vec`` command line: ``--help`` and ``--version``.

Each command runs in a fresh Python process, ``REPEATS`` times in turn
(interleaved, so that a change in the machine's load touches every command
alike), and the median, fastest and slowest wall times are reported beside
the imports they are measured against:

* ``s2vec --help`` and ``s2vec --version`` (the console script next to this
  interpreter, else ``python -m s2vec_geo``), which import no scientific
  library;
* ``--help`` as the command line started before it stopped registering the
  ``GeoDataFrame.s2vec`` accessor (pandas imported first, then the parser);
* ``import s2vec_geo`` (a library user's import: pandas and the accessor),
  the full engine a command loads when it runs (``s2vec_geo.pipeline``: torch,
  geopandas, numba), ``import torch`` alone, and an empty interpreter.

Prints a table and writes ``benchmarks/results/bench_cli.json`` (atomically).
Run: ``python benchmarks/bench_cli.py``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from s2vec_geo.io.layers import atomic_path
from s2vec_geo.version import __version__

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "bench_cli.json"
REPEATS = 7
TARGET_S = 1.0
"""``s2vec --help`` must answer within this many seconds."""
PREVIOUS_HELP = (
    "import sys, s2vec_geo.accessor; from s2vec_geo.cli import main; "
    "sys.argv[0] = 's2vec'; main(['--help'])"
)


def s2vec_command() -> list[str]:
    """The ``s2vec`` console script beside this interpreter, else ``python -m s2vec_geo``."""
    script = Path(sys.executable).with_name("s2vec")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "s2vec_geo"]


def commands() -> dict[str, list[str]]:
    """What is timed, by name."""
    s2vec, python = s2vec_command(), [sys.executable, "-c"]
    return {
        "s2vec --help": [*s2vec, "--help"],
        "s2vec --version": [*s2vec, "--version"],
        "--help as before (accessor registered first)": [*python, PREVIOUS_HELP],
        "import s2vec_geo (library, with the accessor)": [*python, "import s2vec_geo"],
        "full engine import (s2vec_geo.pipeline)": [*python, "import s2vec_geo.pipeline"],
        "import torch": [*python, "import torch"],
        "empty interpreter": [*python, "pass"],
    }


def shown(argv: list[str]) -> str:
    """The command line as text, with program names instead of their paths."""
    first = "python" if argv[0] == sys.executable else Path(argv[0]).name
    return " ".join([first, *argv[1:]])


def wall_time(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from starting ``argv`` to its exit (its output discarded)."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> dict:
    paths = [str(REPO), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}  # this checkout
    todo = commands()
    load_before = os.getloadavg()[0]
    for argv in todo.values():  # warm the file cache and Python's bytecode cache once
        wall_time(argv, env)
    times: dict[str, list[float]] = {name: [] for name in todo}
    for _ in range(REPEATS):
        for name, argv in todo.items():
            times[name].append(wall_time(argv, env))
    timings = {
        name: {
            "median_s": round(statistics.median(values), 3),
            "min_s": round(min(values), 3),
            "max_s": round(max(values), 3),
            "command": shown(todo[name]),
        }
        for name, values in times.items()
    }
    help_s = timings["s2vec --help"]["median_s"]
    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "s2vec_geo": __version__,
            "load_average_1min_before": load_before,  # the machine may be shared
            "load_average_1min_at_end": os.getloadavg()[0],
        },
        "repeats": REPEATS,
        "target_help_s": TARGET_S,
        "help_under_target": help_s < TARGET_S,
        "timings": timings,
    }
    width = max(len(name) for name in timings)
    print(f"{'':<{width}}  median    min    max  (s, {REPEATS} fresh processes each)")
    for name, row in timings.items():
        print(f"{name:<{width}}  {row['median_s']:6.3f} {row['min_s']:6.3f} {row['max_s']:6.3f}")
    print(f"s2vec --help under {TARGET_S:g} s: {'yes' if help_s < TARGET_S else 'NO'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(RESULTS) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
