"""Shared fixtures: paths to the bundled sample and to ../shared/data."""

from __future__ import annotations

from collections.abc import Callable
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


@pytest.fixture(scope="session")
def osm_xml(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """``osm_xml(name, text)`` writes an OSM XML document to a temporary file: its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path_factory.mktemp("osm") / name
        path.write_text(text)
        return path

    return write
