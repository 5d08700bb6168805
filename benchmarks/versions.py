"""Earlier versions of ``s2vec_geo`` beside this checkout, for benchmarks that compare.

A benchmark extracts the package as it was at a git revision into a folder and
runs itself again in a fresh process with that folder first on ``PYTHONPATH``.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The checkout the benchmarks belong to."""


def extract_version(revision: str, folder: Path) -> Path:
    """Extract ``s2vec_geo`` as it was at ``revision`` into the new ``folder``; return it."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "s2vec_geo"],
        capture_output=True,
        check=True,
    ).stdout
    folder.mkdir(exist_ok=True)
    (folder / "s2vec_geo.tar").write_bytes(archive)
    with tarfile.open(folder / "s2vec_geo.tar") as files:
        files.extractall(folder, filter="data")
    return folder
