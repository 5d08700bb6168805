"""Build the S2Vec QGIS plugin zip, installable with Plugins > Install from ZIP.

Usage (any Python 3.10+, standard library only)::

    python qgis_plugin/build_zip.py              # writes dist/s2vec-<version>.zip
    python qgis_plugin/build_zip.py --output-dir /somewhere

The zip holds one top-level folder ``s2vec/`` (the plugin package) without
caches; its version is read from ``metadata.txt``.
"""

from __future__ import annotations

import argparse
import configparser
import os
import tempfile
import zipfile
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent / "s2vec"
EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}


def plugin_version(plugin_dir: Path = PLUGIN_DIR) -> str:
    """Return the ``version`` of the plugin's ``metadata.txt``.

    Examples
    --------
    >>> plugin_version()
    '0.1.0'
    """
    metadata = configparser.ConfigParser()
    metadata.read(plugin_dir / "metadata.txt", encoding="utf-8")
    return metadata["general"]["version"]


def plugin_files(plugin_dir: Path = PLUGIN_DIR) -> list[Path]:
    """Files that go into the zip, relative to ``plugin_dir``, sorted.

    Examples
    --------
    >>> "metadata.txt" in [p.as_posix() for p in plugin_files()]
    True
    """
    files = []
    for root, dirs, names in os.walk(plugin_dir):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS)
        for name in names:
            path = Path(root, name)
            if path.suffix not in EXCLUDED_SUFFIXES:
                files.append(path.relative_to(plugin_dir))
    return sorted(files)


def build_zip(output_dir: Path, plugin_dir: Path = PLUGIN_DIR) -> Path:
    """Write ``<output_dir>/s2vec-<version>.zip`` atomically and return its path.

    Entries get a fixed timestamp so the same sources give the same zip.

    Examples
    --------
    >>> import tempfile
    >>> build_zip(Path(tempfile.mkdtemp())).name
    's2vec-0.1.0.zip'
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{plugin_dir.name}-{plugin_version(plugin_dir)}.zip"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".zip", dir=output_dir)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", zipfile.ZIP_DEFLATED) as archive:
            for relative in plugin_files(plugin_dir):
                info = zipfile.ZipInfo(f"{plugin_dir.name}/{relative.as_posix()}")
                info.date_time = (2025, 1, 1, 0, 0, 0)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, (plugin_dir / relative).read_bytes())
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return target


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "dist",
        help="folder for the zip (default: dist/ at the repository root)",
    )
    print(build_zip(parser.parse_args().output_dir))


if __name__ == "__main__":
    main()
