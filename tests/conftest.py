"""Shared fixtures: paths to the bundled sample and to ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_PBF = REPO / "examples" / "data" / "helsinki.osm.pbf"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data beside the checkout; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data is not beside this checkout ({SHARED_DATA} missing)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_pbf() -> Path:
    """The bundled central-Helsinki OSM extract (ODbL, OpenStreetMap contributors)."""
    return SAMPLE_PBF
