"""Build the S2Vec QGIS plugin zip, installable with Plugins > Install from ZIP.

Usage (any Python 3.10+, standard library only)::

    python qgis_plugin/build_zip.py              # writes dist/s2vec-<version>.zip
    python qgis_plugin/build_zip.py --output-dir /somewhere

The zip holds one top-level folder ``s2vec/`` (the plugin package) with an
explicit allow-list of files (:data:`PACKED`: Python modules, metadata, icons
and styles); hidden files and folders (``.env``, ``.git/``, ``.DS_Store``),
editor backups and caches are never packed, and a symbolic link stops the
build (a link would pack the contents of whatever it points to). The version
is read from ``metadata.txt``. The engine's option declarations
(``s2vec_geo/core/options.py``, standard library only) are packed as
``s2vec/options.py``: the algorithms build their parameters from them
(``s2vec/vocabulary.py``); ``s2vec_geo/io/owners.py`` (owner-named temporaries)
as ``s2vec/owners.py``; the source tree keeps one copy only.
"""

from __future__ import annotations

import argparse
import configparser
import fnmatch
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

PLUGIN_DIR = Path(__file__).resolve().parent / "s2vec"
PACKED = ("*.py", "metadata.txt", "*.svg", "*.png", "*.qml", "*.ui", "LICENSE*", "*.md")
"""File-name patterns of what goes into the zip; nothing else does."""
PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
"""Names of packed files and folders: no hidden files, backups (``x.py~``, ``#x.py#``)."""
PACKAGE_DIR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENGINE_DIR = Path(__file__).resolve().parents[1] / "s2vec_geo"
ENGINE_FILES = {"options.py": "core/options.py", "owners.py": "io/owners.py"}
"""The engine's standard-library modules packed into the plugin folder (as ``vocabulary.py``
loads them): the option declarations and the owner-named temporaries."""


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


def is_packed(name: str) -> bool:
    """Whether a file of this name goes into the zip.

    Examples
    --------
    >>> [is_packed(n) for n in ("engine.py", ".env", "engine.py~", "x.pyc", "icon.svg")]
    [True, False, False, False, True]
    """
    return bool(PLAIN_NAME.match(name)) and any(fnmatch.fnmatch(name, p) for p in PACKED)


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise ValueError(
            f"{path} is a symbolic link; the plugin zip packs only regular files (a link "
            "would pack what it points to): replace it with the file or remove it"
        )


def plugin_files(plugin_dir: Path = PLUGIN_DIR) -> list[Path]:
    """Files that go into the zip, relative to ``plugin_dir``, sorted.

    Only package folders (Python identifiers, so no hidden or cache folders)
    are searched, and only :func:`is_packed` files are taken. A symbolic link
    (other than a hidden one, never packed) raises ``ValueError``.

    Examples
    --------
    >>> "metadata.txt" in [p.as_posix() for p in plugin_files()]
    True
    """
    files = []
    for root, dirs, names in os.walk(plugin_dir):
        for name in [*dirs, *names]:
            if not name.startswith("."):
                _refuse_link(Path(root, name))
        dirs[:] = sorted(d for d in dirs if PACKAGE_DIR.match(d) and d != "__pycache__")
        files += [Path(root, n).relative_to(plugin_dir) for n in names if is_packed(n)]
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
    files = plugin_files(plugin_dir)  # refuses links before anything is written
    packed = {relative.as_posix(): plugin_dir / relative for relative in files}
    for name, source in ENGINE_FILES.items():
        _refuse_link(ENGINE_DIR / source)
        packed[name] = ENGINE_DIR / source
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{plugin_dir.name}-{plugin_version(plugin_dir)}.zip"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".zip", dir=output_dir)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", zipfile.ZIP_DEFLATED) as archive:
            for folder in sorted({str(PurePosixPath(n).parent) for n in packed} - {"."}):
                entry = zipfile.ZipInfo(f"{plugin_dir.name}/{folder}/")
                entry.date_time = (2025, 1, 1, 0, 0, 0)
                entry.external_attr = (0o40755 << 16) | 0x10  # a folder, rwxr-xr-x
                archive.writestr(entry, b"")
            for name, source in sorted(packed.items()):
                info = zipfile.ZipInfo(f"{plugin_dir.name}/{name}")
                info.date_time = (2025, 1, 1, 0, 0, 0)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, source.read_bytes())
        os.chmod(tmp_name, 0o644)  # mkstemp made it 0600: readable by whoever installs it
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
    output_dir = parser.parse_args().output_dir
    try:
        print(build_zip(output_dir))
    except (ValueError, OSError) as exc:
        print(f"build_zip: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
