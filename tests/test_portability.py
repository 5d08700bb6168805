"""Windows and macOS in principle: no Unix-only call without a fallback.

``os.getloadavg`` and ``fcntl`` do not exist on Windows; the S2 kernels and
the output lock must work without them.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from s2vec_geo.io import locks
from s2vec_geo.s2 import cell_edge_neighbors, cell_to_boundary, cell_to_latlng, latlng_to_cell
from s2vec_geo.s2.kernels import PARALLEL_MIN, spare_core


def test_s2_kernels_run_without_a_load_average(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    n = PARALLEL_MIN + 1000  # large enough to ask whether a core is spare
    lat, lng = rng.uniform(-89, 89, n), rng.uniform(-180, 180, n)
    expected = latlng_to_cell(lat, lng, 16)
    monkeypatch.delattr(os, "getloadavg", raising=False)
    assert spare_core() in (True, False)
    cells = latlng_to_cell(lat, lng, 16)
    np.testing.assert_array_equal(cells, expected)
    assert cell_to_latlng(cells)[0].shape == (n,)
    assert cell_to_boundary(cells).shape == (n, 4, 2)
    assert cell_edge_neighbors(cells).shape == (n, 4)


@pytest.fixture
def portable(monkeypatch):
    """A fresh copy of ``s2vec_geo.io.locks`` (and ``filelock``) imported without ``fcntl``."""
    before = set(sys.modules)
    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl -> ImportError
    for name in [m for m in sys.modules if m.split(".")[0] == "filelock"]:
        monkeypatch.delitem(sys.modules, name)  # restored afterwards
    spec = importlib.util.spec_from_file_location("locks_without_fcntl", locks.__file__)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # filelock: "only soft file lock is available"
        spec.loader.exec_module(module)
    yield module
    for name in set(sys.modules) - before:  # the copies imported without fcntl
        if name.split(".")[0] == "filelock":
            del sys.modules[name]


def test_lock_without_fcntl(tmp_path: Path, portable) -> None:
    assert not portable.filelock.has_fcntl  # the fallback is what runs below
    out = tmp_path / "cells.gpkg"
    with portable.hold(out) as lock:
        assert lock.is_file() and f"pid={os.getpid()}" in lock.read_text()
        second = portable.hold(out)
        with pytest.raises(portable.OutputLockedError, match="is being written by"):
            second.__enter__()
    assert not portable.lock_path(out).exists()
    with portable.hold(out):  # released: taken again
        pass


def test_a_lock_left_by_a_killed_run_is_taken_over_without_fcntl(
    tmp_path: Path, portable, caplog
) -> None:
    code = "import os; print(os.getpid())"
    dead = int(subprocess.run([sys.executable, "-c", code], capture_output=True).stdout)
    out = tmp_path / "cells.gpkg"
    lock = portable.lock_path(out)
    lock.write_text(f"pid={dead} host={socket.gethostname()}\n")  # the run was killed here
    with caplog.at_level("INFO"), portable.hold(out) as held:
        assert held == lock and f"pid={os.getpid()}" in lock.read_text()
    assert f"left by s2vec process {dead}" in caplog.text
    assert list(tmp_path.iterdir()) == []
    lock.write_text(f"pid={os.getppid()} host={socket.gethostname()}\n")  # a live writer
    with pytest.raises(portable.OutputLockedError, match=f"s2vec process {os.getppid()}"):
        portable.hold(out).__enter__()
    assert lock.read_text().startswith(f"pid={os.getppid()}")  # its lock is left alone
