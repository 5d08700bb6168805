"""Windows and macOS in principle: no Unix-only call without a fallback.

``os.getloadavg`` and ``fcntl`` do not exist on Windows; the S2 kernels and
the output lock must work without them.
"""

from __future__ import annotations

import importlib.util
import os
import sys
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


def _locks_without_fcntl(monkeypatch):
    """A fresh copy of ``s2vec_geo.io.locks`` imported where ``fcntl`` does not exist."""
    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl -> ImportError
    spec = importlib.util.spec_from_file_location("locks_without_fcntl", locks.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lock_without_fcntl(tmp_path: Path, monkeypatch) -> None:
    portable = _locks_without_fcntl(monkeypatch)
    assert portable.fcntl is None  # the fallback is what runs below
    out = tmp_path / "cells.gpkg"
    with portable.hold(out) as lock:
        assert lock.is_file() and f"pid={os.getpid()}" in lock.read_text()
        second = portable.hold(out)
        with pytest.raises(portable.OutputLockedError, match="is being written by"):
            second.__enter__()
    assert not portable.lock_path(out).exists()
    with portable.hold(out):  # released: taken again
        pass
