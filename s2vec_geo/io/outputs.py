"""Outputs that lose nothing: which places may be written, and swaps a kill cannot break.

**Which places.** :func:`check_output` refuses, before any work, an output
that is one of the command's inputs (after resolving links), a name holding
a control character, and, for an output folder, the current folder (by any
spelling: ``.``, ``..``, its absolute path), the home folder, the root of the
file system and any folder holding an input.

**Files of ours.** A PNG this library draws says so in its ``Software``
text (:data:`SOFTWARE`, :func:`written_here`), so that a command writing
one the user did not name (``run``'s PCA map beside its layer) can tell its
own earlier map from a picture of the user's.

**Swaps.** Replacing an output takes several renames; ``kill -9`` may strike
between any two of them, so every intermediate state has a name that says
what it is (:func:`s2vec_geo.io.owners.owned_name`) and the next writer of the
same place finishes or undoes a swap whose process is gone:

- a folder replaced whole (:func:`swap_folder`): the old one is renamed aside
  (``.<name>.s2old-<owner>``), the new one renamed in, the old one deleted.
  :func:`recover_aside` deletes an abandoned old copy once the new one is in
  place, and renames it back when it is the only copy;
- some files of a folder that also holds files of the user's
  (:func:`replace_in_folder`, an image dataset beside your notes): the new
  files, complete, are staged in a hidden folder inside it with the plan
  (which files go, which come) and the folder renamed to
  ``.<name>.s2new-<owner>``: from then on the replacement is committed. The
  old files are moved aside (``.<name>.s2old-<owner>``), the new ones moved
  in, then both hidden folders are deleted. :func:`finish_replacements` runs
  the remaining steps of an abandoned one (each step can be repeated).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from s2vec_geo.io.locks import remove_stale_temporaries
from s2vec_geo.io.owners import ASIDE_TAG, STAGED_TAG, abandoned, owned_name, owner_tag

log = logging.getLogger(__name__)

SOFTWARE = "s2vec-geo"
"""What the ``Software`` text of a PNG written by this library starts with."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PLAN_FILE = ".s2vec-replace.json"
"""A staged replacement's plan, in its staging folder: ``{"remove": [...], "add": [...]}``."""


def check_name(path: str | os.PathLike) -> None:
    """Refuse an output name holding a control character (a newline, a tab, ...).

    Such names are mistakes (a pasted line break), are shown garbled by most
    tools, and would hide the temporary written beside them from the cleanup
    of killed runs.

    Examples
    --------
    >>> check_name("emb\\n.gpkg")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: output name 'emb\\n.gpkg' holds a control character (a line break, ...
    """
    text = os.fspath(path)
    if any(ord(c) < 32 or ord(c) == 127 for c in str(text)):
        raise ValueError(
            f"output name {str(text)!r} holds a control character (a line break, a tab, ...); "
            "choose a name without it"
        )


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(path)).resolve()


def _protected_folders() -> dict[Path, str]:
    """Folders never used as an output folder: where the command runs, home, the root."""
    cwd = _resolved(Path.cwd())
    folders = {parent: "a folder above the current one" for parent in cwd.parents}
    folders.update({cwd: "the current folder", Path(cwd.anchor): "the root of the file system"})
    with contextlib.suppress(RuntimeError, KeyError):  # no home known (a bare service account)
        folders[_resolved(Path.home())] = "your home folder"
    return folders


def check_output(
    path: str | os.PathLike,
    inputs: tuple[object, ...] | list[object] = (),
    *,
    folder: bool = False,
) -> Path:
    """Refuse an output that would replace an input or a place holding your files; return it.

    Parameters
    ----------
    path
        The output file or folder.
    inputs
        The command's inputs; those that are not paths (frames, models in
        memory) are passed over.
    folder
        ``path`` is a folder the command writes into: the current folder
        (by any spelling), the folders above it, the home folder, the root
        and any folder holding an input are refused too.

    Examples
    --------
    >>> check_output("emb.gpkg", ["emb.gpkg"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: output 'emb.gpkg' is the input 'emb.gpkg'; choose another output name ...
    >>> check_output(".", folder=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: output folder '.' is the current folder; give a folder of its own ...
    >>> check_output("out/images", ["cells.gpkg"], folder=True).as_posix()
    'out/images'
    """
    check_name(path)
    out = _resolved(path)
    sources = [Path(s) for s in inputs if isinstance(s, (str, os.PathLike))]
    for source in sources:
        if _resolved(source) == out:
            raise ValueError(
                f"output {str(path)!r} is the input {str(source)!r}; choose another output "
                "name (writing it would replace the input)"
            )
    if folder:
        what = _protected_folders().get(out)
        if what is None and any(out in _resolved(s).parents for s in sources):
            what = "a folder holding an input"
        if what is not None:
            raise ValueError(
                f"output folder {str(path)!r} is {what}; give a folder of its own (a new "
                "one), so that nothing else there is touched"
            )
    return Path(path)


@contextlib.contextmanager
def removed_if_left_empty(folder: Path) -> Iterator[None]:
    """On failure, remove ``folder`` when the block made it and left it empty.

    Examples
    --------
    >>> import tempfile
    >>> new = Path(tempfile.mkdtemp()) / "run"
    >>> try:
    ...     with removed_if_left_empty(new):
    ...         new.mkdir()
    ...         raise ValueError("bad images")
    ... except ValueError:
    ...     pass
    >>> new.exists()
    False
    """
    made = not folder.exists()
    try:
        yield
    except BaseException:
        if made:
            with contextlib.suppress(OSError):  # not empty, or gone: left as it is
                folder.rmdir()
        raise


def written_here(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a PNG whose ``Software`` text names this library.

    Reads the PNG's chunks up to its image data (a few hundred bytes).

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> png = Path(tempfile.mkdtemp()) / "map.png"
    >>> Figure().savefig(png, metadata={"Software": f"{SOFTWARE} 0.1.0"})
    >>> written_here(png), written_here(__file__)
    (True, False)
    """
    try:
        with open(path, "rb") as f:
            if f.read(8) != PNG_SIGNATURE:
                return False
            while header := f.read(8):
                size, kind = int.from_bytes(header[:4], "big"), header[4:]
                if kind in (b"IDAT", b"IEND") or len(header) < 8:
                    return False
                data = f.read(size + 4)[:size]  # the chunk and its CRC
                if kind == b"tEXt" and data.partition(b"\0")[0] == b"Software":
                    return data.partition(b"\0")[2].startswith(SOFTWARE.encode())
    except OSError:
        return False
    return False


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk where the system allows it (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows opens no folder; NTFS journals the rename itself
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def fsync_path(path: Path) -> None:
    """Flush a written file, or every file of a written folder and the folder, to disk."""
    if path.is_dir():
        for child in path.rglob("*"):
            if child.is_file():
                fsync_path(child)
        fsync_folder(path)
    elif path.exists():
        with open(path, "rb+") as f:
            os.fsync(f.fileno())


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _entries(folder: Path, prefix: str) -> list[Path]:
    """Entries of ``folder`` whose name starts with ``prefix`` (a name test: folders may be big)."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return [Path(e.path) for e in entries if e.name.startswith(prefix)]


def swap_folder(new: Path, target: Path) -> None:
    """Replace the folder ``target`` by the folder ``new`` (beside it): aside, in, delete.

    At every instant ``target`` or its old copy ``.<name>.s2old-<owner>``
    holds a complete folder (:func:`recover_aside` puts the old one back if
    the new one never came in).
    """
    aside = target.with_name(owned_name(target, ASIDE_TAG, owner_tag()))
    os.replace(target, aside)
    os.replace(new, target)
    fsync_folder(target.parent)
    _delete(aside)


def recover_aside(folder: Path, name: str) -> list[Path]:
    """Finish or undo the swaps of ``folder/name`` that a process gone left half done.

    An old copy moved aside is deleted when ``name`` is in place again (the
    swap was done but for the cleanup), and renamed back when it is the only
    copy. Returns the old copies handled.

    Examples
    --------
    >>> import tempfile
    >>> from s2vec_geo.io.owners import host_tag
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / f".ds.s2old-{host_tag()}-999999999-abcdef").mkdir()  # killed mid-swap
    >>> _ = recover_aside(folder, "ds")
    >>> sorted(p.name for p in folder.iterdir())
    ['ds']
    """
    target = folder / name
    handled = []
    for aside in _entries(folder, f".{name}.{ASIDE_TAG}-"):
        if abandoned(aside.name, name, ASIDE_TAG) is None:
            continue
        if os.path.lexists(target):
            _delete(aside)
            log.info("removed %s: the old %s a killed run had replaced", aside, name)
        else:
            os.replace(aside, target)
            log.warning("restored %s, which a killed run had moved aside to replace it", target)
        handled.append(aside)
    return handled


def _plain(names: object) -> list[str]:
    """The plan's file names that name a file right in the folder (nothing else is touched)."""
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str) and n not in ("", "..") and n == Path(n).name]


def _continue(
    folder: Path, staged: Path, aside: Path, names: re.Pattern[str] | None = None
) -> None:
    """The remaining steps of a committed replacement (each may run again after a kill).

    With ``names``, only files whose whole name matches it are moved.
    """
    try:
        plan = json.loads((staged / PLAN_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:  # killed while deleting the staging folder: all was done
        plan = {}
    remove, add = (
        [n for n in _plain(plan.get(key)) if names is None or names.fullmatch(n)]
        for key in ("remove", "add")
    )
    if add and all((staged / n).is_file() for n in add):  # nothing moved in yet
        aside.mkdir(exist_ok=True)
        for name in remove:
            if os.path.lexists(folder / name):
                os.replace(folder / name, aside / name)
    for name in add:
        if (staged / name).is_file():
            os.replace(staged / name, folder / name)
    fsync_folder(folder)
    _delete(aside)  # before the plan: its presence says what remains
    _delete(staged)


def replace_in_folder(folder: Path, staged: Path, remove: list[str], add: list[str]) -> None:
    """Replace the files ``remove`` of ``folder`` by the files ``add`` of ``staged``.

    ``staged``, a complete new output in a hidden folder inside ``folder``,
    is committed (renamed ``.<folder>.s2new-<owner>`` with its plan) and then
    moved in file by file; the other files of ``folder`` are not touched. The
    first of ``remove`` is moved aside first and the last of ``add`` moved in
    last: give the manifest there, so that a reader never sees a mixed
    output. A kill at any instant is finished by :func:`finish_replacements`.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "notes.txt").write_text("mine")
    >>> _ = (folder / "a.npy").write_text("old")
    >>> (folder / ".new").mkdir(); _ = (folder / ".new" / "b.npy").write_text("new")
    >>> replace_in_folder(folder, folder / ".new", ["a.npy"], ["b.npy"])
    >>> sorted(p.name for p in folder.iterdir())
    ['b.npy', 'notes.txt']
    """
    (staged / PLAN_FILE).write_text(json.dumps({"remove": remove, "add": add}), encoding="utf-8")
    fsync_path(staged)
    owner = owner_tag()
    committed = folder / owned_name(folder.resolve(), STAGED_TAG, owner)
    os.replace(staged, committed)
    fsync_folder(folder)
    _continue(folder, committed, folder / owned_name(folder.resolve(), ASIDE_TAG, owner))


def finish_replacements(folder: Path, names: re.Pattern[str] | None = None) -> list[Path]:
    """Finish the replacements in ``folder`` that a process gone committed but left undone.

    Returns the staging folders finished (also logged). A replacement killed
    before it was committed left only a temporary, which is removed: the old
    files are intact. ``names``: the only file names the plans may move (a
    plan is a file on disk: one made up must not move your files away).
    """
    name = folder.resolve().name
    remove_stale_temporaries(folder, name)
    done = []
    for staged in _entries(folder, f".{name}.{STAGED_TAG}-"):
        owner = abandoned(staged.name, name, STAGED_TAG)
        if owner is None:
            continue
        _continue(folder, staged, folder / owned_name(folder.resolve(), ASIDE_TAG, owner), names)
        log.warning("finished replacing the files of %s that a killed run had begun", folder)
        done.append(staged)
    return done
