"""Where outputs go: destinations checked before any work, and the run's private work folder.

Every algorithm checks the user's destinations before it exports a layer or
starts the engine (:func:`check_folder`, :func:`check_file`), so a used
folder is refused in a moment, not after the work. Folder outputs (image
datasets, training runs, reports) are written by the engine straight into
their destination, where its own checks and overwrite rules apply
(:func:`new_folder_or_cleared` removes what a failed run left in a folder
that was new or empty). Layer outputs are written in a private work folder
(:func:`workspace`) and moved into place when the engine succeeded.

Work folders are named after the process that owns them with the engine's own
owner tag (``s2vec-<host>-<pid>-<random>``, ``s2vec_geo/io/owners.py``, loaded
by its path as :mod:`.vocabulary` loads the options): a work folder left by a
killed QGIS (with the engine's 64 MB ``checkpoint.pt`` of an unfinished
training) is removed by the next run (:func:`remove_stale_workspaces`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
from collections.abc import Iterator

from qgis.core import QgsProcessingException, QgsProcessingUtils

from .vocabulary import load_engine_file

WORKSPACE_PREFIX = "s2vec-"
OWNERS = load_engine_file("owners.py")
"""The engine's owner-named temporaries (``s2vec_geo/io/owners.py``): one definition."""
host_tag, owner_tag, process_alive = OWNERS.host_tag, OWNERS.owner_tag, OWNERS.process_alive
_WORKSPACE = re.compile(rf"^{WORKSPACE_PREFIX}(?P<host>[0-9a-f]{{6}})-(?P<pid>\d+)-")


def remove_stale_workspaces(temp: str) -> list[str]:
    """Remove work folders whose QGIS is gone, in ``temp`` and its sibling processing folders.

    QGIS makes a new processing temp folder (``processing_XXXXXX``) every
    session and a killed QGIS leaves its own behind; both are searched. Only
    s2vec work folders of this machine whose process has ended are removed.

    Returns
    -------
    list of str
        The folders removed.
    """
    patterns = {os.path.join(temp, WORKSPACE_PREFIX + "*")}
    patterns.add(os.path.join(os.path.dirname(temp), "processing_*", WORKSPACE_PREFIX + "*"))
    removed = []
    for pattern in patterns:
        for folder in glob.glob(pattern):
            owner = _WORKSPACE.match(os.path.basename(folder))
            if owner and owner["host"] == host_tag() and not process_alive(int(owner["pid"])):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def processing_temp_folder() -> str:
    """QGIS's processing temp folder, made again when it vanished; one clear line if it cannot be.

    Raises
    ------
    QgsProcessingException
        When the folder cannot be made (removed and its parent not writable).
    """
    temp = QgsProcessingUtils.tempFolder()
    try:
        os.makedirs(temp, exist_ok=True)
    except OSError as exc:
        raise QgsProcessingException(
            f"QGIS's processing temporary folder {temp} is gone and cannot be made again "
            f"({exc.strerror}): set another in Settings > Options > Processing > General > "
            "Override temporary output folder path, or restart QGIS."
        ) from exc
    return temp


@contextlib.contextmanager
def workspace() -> Iterator[str]:
    """Yield a private, empty work folder in QGIS's processing temp folder; removed afterwards.

    Examples
    --------
    >>> with workspace() as folder:  # doctest: +SKIP
    ...     run_engine("cover", ["in.gpkg", "--level", "12", "--output", f"{folder}/c.gpkg"])
    """
    temp = processing_temp_folder()
    remove_stale_workspaces(temp)
    folder = os.path.join(temp, WORKSPACE_PREFIX + owner_tag())
    os.mkdir(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _writable_parent(path: str, label: str) -> None:
    """Refuse a destination whose nearest existing folder cannot be written."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise QgsProcessingException(
            f"'{label}' cannot be written at {path}: {parent} is not a folder you can write "
            "to; choose another destination."
        )


def check_folder(path: str, label: str, overwrite: bool | None) -> None:
    """Refuse a folder destination that is a file, not writable, or used without overwrite.

    Parameters
    ----------
    path
        The user's destination folder.
    label
        The output parameter's description, named in the message.
    overwrite
        Whether the user ticked the algorithm's overwrite option; ``None`` when
        it offers none.

    Raises
    ------
    QgsProcessingException
        One line naming the problem and the fix.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise QgsProcessingException(
            f"'{label}' must be a folder, but {path} is a file: choose a folder."
        )
    _writable_parent(os.path.join(path, "x"), label)
    if not os.path.isdir(path) or overwrite or not os.listdir(path):
        return
    fix = "choose a new or empty folder"
    if overwrite is not None:
        fix += " or tick 'Overwrite' to replace the earlier output there (other files are kept)"
    raise QgsProcessingException(f"The folder {path} ('{label}') is not empty: {fix}.")


def check_file(path: str, label: str) -> None:
    """Refuse a file destination that is a folder or cannot be written (it is replaced).

    Raises
    ------
    QgsProcessingException
        One line naming the problem and the fix.
    """
    if os.path.isdir(path):
        raise QgsProcessingException(
            f"'{label}' must be a file, but {path} is a folder: choose a file name."
        )
    _writable_parent(path, label)


@contextlib.contextmanager
def new_folder_or_cleared(path: str) -> Iterator[None]:
    """On failure or Cancel, remove what the run wrote into ``path`` if it was new or empty.

    A folder that held files before the run (an overwrite) is left as the
    engine left it: its writes are atomic file by file.
    """
    existed = os.path.isdir(path)
    fresh = not existed or not os.listdir(path)
    try:
        yield
    except BaseException:
        if fresh and os.path.isdir(path):
            if existed:
                for name in os.listdir(path):
                    remove(os.path.join(path, name))
            else:
                shutil.rmtree(path, ignore_errors=True)
        raise


def staging_name(destination: str) -> str:
    """A hidden name beside ``destination`` for an output being moved into place.

    It is the engine's name for temporaries (``.<name>.s2tmp-<host>-<pid>-...``),
    so the engine removes a leftover of a killed QGIS the next time it writes there.

    Examples
    --------
    >>> staging_name("/data/cells.gpkg").startswith(".cells.gpkg.s2tmp-")
    True
    >>> OWNERS.temporary_owner(staging_name("/data/cells.gpkg")) == (host_tag(), os.getpid())
    True
    """
    return OWNERS.temporary_name(destination)


def remove(path: str) -> None:
    """Remove a file or folder if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)
