"""Build the S2Vec QGIS plugin zip, installable with Plugins > Install from ZIP.

Usage (any Python 3.10+, standard library only)::

    python qgis_plugin/build_zip.py              # writes dist/s2vec-<version>.zip
    python qgis_plugin/build_zip.py --output-dir /somewhere

The zip holds one top-level folder ``s2vec/`` (the plugin package) with the
files the plugin consists of, listed by name (:data:`PLUGIN_FILES`): nothing
else in the folder is packed (hidden files, backups, caches, a stale
``build/`` or ``tests/``, stray notes). Every file is read before the zip is
written, and the build stops with one line on a symbolic link, a hard-linked
file (it could be a file from outside the plugin), anything that is not a
regular file (a FIFO, a device) and a Python module missing from the list or
named so that Python cannot import it. The version is read from
``metadata.txt``. The engine's option declarations
(``s2vec_geo/core/options.py``, standard library only) are packed as
``s2vec/options.py``: the algorithms build their parameters from them
(``s2vec/vocabulary.py``); ``s2vec_geo/io/owners.py`` (owner-named temporaries)
as ``s2vec/owners.py``; the source tree keeps one copy only.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import stat
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

PLUGIN_DIR = Path(__file__).resolve().parent / "s2vec"
PLUGIN_FILES = (
    "__init__.py",
    "algorithms/__init__.py",
    "algorithms/analysis.py",
    "algorithms/base.py",
    "algorithms/cells.py",
    "algorithms/features.py",
    "algorithms/model.py",
    "algorithms/params.py",
    "algorithms/pipeline.py",
    "destinations.py",
    "discovery.py",
    "engine.py",
    "environment.py",
    "icon.svg",
    "layers.py",
    "metadata.py",
    "metadata.txt",
    "plugin.py",
    "provider.py",
    "settings.py",
    "styles.py",
    "vocabulary.py",
    "words.py",
)
"""What the plugin consists of, relative to its folder: nothing else goes into the zip."""
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.py$")
"""A module Python can import: an identifier and ``.py`` (ASCII, no control characters)."""
OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)  # a link is refused, not followed
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO is refused, not waited on
    | getattr(os, "O_BINARY", 0)
)
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


def link_error(path: Path) -> ValueError:
    """The refusal of a symbolic link (it would pack what it points to)."""
    return ValueError(
        f"{path} is a symbolic link; the plugin zip packs only regular files (a link "
        "would pack what it points to): replace it with the file or remove it"
    )


def refusal(path: Path, status: os.stat_result) -> ValueError | None:
    """Why the file of ``status`` cannot be packed, or ``None`` when it can.

    Examples
    --------
    >>> refusal(PLUGIN_DIR, os.stat(PLUGIN_DIR))  # doctest: +ELLIPSIS
    ValueError('...s2vec is not a regular file (a folder, FIFO, device or socket); ...')
    """
    if stat.S_ISLNK(status.st_mode):
        return link_error(path)
    if not stat.S_ISREG(status.st_mode):
        return ValueError(
            f"{path} is not a regular file (a folder, FIFO, device or socket); the plugin zip "
            "packs only regular files: replace it with the file or remove it"
        )
    if status.st_nlink > 1:
        return ValueError(
            f"{path} has {status.st_nlink} hard links (it may be a file from outside the "
            f"plugin); make it a file of its own (cp {path.name} x && mv x {path.name}) "
            "and build again"
        )
    return None


def read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file with one name; else ``ValueError``.

    Checked (:func:`refusal`) before it is opened, and again on the open
    file, which is opened without following a symbolic link and without
    waiting on a FIFO: a link, a folder, a FIFO, a device or a socket, and a
    file with several hard links (one could be a file from outside the
    plugin, e.g. ``ln /etc/shadow notes.md``) are refused in one line.

    Examples
    --------
    >>> read_regular(PLUGIN_DIR / "metadata.txt")[:9]
    b'[general]'
    >>> read_regular(Path(os.devnull))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: /dev/null is not a regular file (a folder, FIFO, device or socket); ...
    """
    problem = refusal(path, os.lstat(path))
    if problem is not None:
        raise problem
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:  # replaced meanwhile, e.g. by a link
        raise OSError(f"cannot read plugin file {path}: {exc.strerror}; build again") from None
    with os.fdopen(fd, "rb") as file:
        problem = refusal(path, os.fstat(fd))
        if problem is not None:
            raise problem
        return file.read()


def package_folders(plugin_dir: Path = PLUGIN_DIR) -> list[PurePosixPath]:
    """The plugin's package folders, relative to ``plugin_dir``.

    Those of :data:`PLUGIN_FILES`, and every folder with an ``__init__.py``
    inside the plugin (hidden ones, caches and tests left out).

    Examples
    --------
    >>> [f.as_posix() for f in package_folders()]
    ['.', 'algorithms']
    """
    folders = {PurePosixPath(name).parent for name in PLUGIN_FILES}
    for root, dirs, _ in os.walk(plugin_dir):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".")
            and d not in ("__pycache__", "tests", "test")
            and os.path.isfile(os.path.join(root, d, "__init__.py"))
        ]
        folders |= {PurePosixPath(Path(root, d).relative_to(plugin_dir).as_posix()) for d in dirs}
    return sorted(folders)


def check_modules(plugin_dir: Path = PLUGIN_DIR) -> None:
    """Refuse a Python module in the plugin's packages that :data:`PLUGIN_FILES` leaves out.

    A module with an odd name (not a Python identifier, control characters)
    or one missing from the list (a new subpackage's too) would be dropped
    from the zip without a word; hidden files, backups and other folders
    (``build/``, ``tests/``) are never packed and not looked at.

    Examples
    --------
    >>> check_modules()
    """
    for folder in package_folders(plugin_dir):
        if (plugin_dir / folder).is_symlink():
            raise link_error(plugin_dir / folder)
        for entry in sorted(os.scandir(plugin_dir / folder), key=lambda e: e.name):
            name = entry.name
            if name.startswith(".") or not name.endswith(".py"):
                continue
            if (folder / name).as_posix() in PLUGIN_FILES:
                continue
            if entry.is_symlink():
                raise link_error(Path(entry.path))
            if not MODULE_NAME.match(name):
                raise ValueError(
                    f"plugin module {entry.path!r} has a name Python cannot import (letters, "
                    "digits and _ only): rename it, or remove it"
                )
            raise ValueError(
                f"plugin module {entry.path!r} is not in build_zip.PLUGIN_FILES, so the zip "
                "would lack it: add it there, or remove the file"
            )


def plugin_files(plugin_dir: Path = PLUGIN_DIR) -> dict[str, bytes]:
    """The zip's files (names relative to ``plugin_dir``) and their bytes, read and checked.

    Everything is read before the zip is written: a missing file, a
    special file, a link or a hard-linked file (:func:`read_regular`) and a
    module outside the list (:func:`check_modules`) stop the build.

    Examples
    --------
    >>> sorted(plugin_files())[:2]
    ['__init__.py', 'algorithms/__init__.py']
    """
    check_modules(plugin_dir)
    packed = {}
    for name in PLUGIN_FILES:
        path = plugin_dir / name
        if not os.path.lexists(path):
            raise FileNotFoundError(f"plugin file {path} is missing; restore it (git checkout)")
        packed[name] = read_regular(path)
    for name, source in ENGINE_FILES.items():
        packed[name] = read_regular(ENGINE_DIR / source)
    return packed


def build_zip(output_dir: Path, plugin_dir: Path = PLUGIN_DIR) -> Path:
    """Write ``<output_dir>/s2vec-<version>.zip`` atomically and return its path.

    Entries get a fixed timestamp so the same sources give the same zip.

    Examples
    --------
    >>> import tempfile
    >>> build_zip(Path(tempfile.mkdtemp())).name
    's2vec-0.1.0.zip'
    """
    packed = plugin_files(plugin_dir)  # every file read and checked before writing
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
            for name, data in sorted(packed.items()):
                info = zipfile.ZipInfo(f"{plugin_dir.name}/{name}")
                info.date_time = (2025, 1, 1, 0, 0, 0)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
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
