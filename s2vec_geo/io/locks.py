"""Who writes where: output locks and temporaries named after the process that owns them.

Two writers must never share an output, and a killed writer must not leave
debris that nobody removes. Both rest on one convention, the owner's process
id written where the next run can read it:

- **Temporaries** (made only by :func:`s2vec_geo.io.layers.atomic_path`) are named
  ``.<target name>.s2tmp-<host>-<pid>-<random><suffix>`` (:mod:`s2vec_geo.io.owners`,
  shared with the QGIS plugin) beside their target:
  hidden, recognisably s2vec's, and tied to the process that writes them.
  :func:`remove_stale_temporaries` deletes those whose process is gone (on
  this host), e.g. after ``kill -9``, the next time the same place is written.
- **Locks**: :func:`hold` keeps ``.<target name>.lock`` beside an output file
  or folder for as long as a command writes it. The file records the owner's
  process id and host; a second writer is refused with a message naming them.
  The lock itself is the operating system's, through ``filelock``
  (``flock`` on POSIX, ``LockFileEx`` on Windows), which the system releases
  when the owner dies in any way, so a lock left by a killed run is stale by
  construction and is taken over (and logged) by the next run. Where the
  system has no such lock (``filelock`` reports none), the file's existence is
  the lock and a record naming a process gone from this host is taken over.
- A lock covers everything below its folder: :func:`check_not_held` refuses
  a write into a held output or into any folder below one (a running run's
  work folder), unless the code writing holds that lock itself (its own
  stages). Every temporary (:func:`s2vec_geo.io.layers.atomic_path`) and
  every :func:`hold` checks it.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import filelock

from s2vec_geo.io.owners import (  # noqa: F401  (names of this module before owners.py)
    TEMPORARY_TAG,
    host_tag,
    process_alive,
    temporary_name,
    temporary_owner,
)

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
_HELD_HERE: contextvars.ContextVar[frozenset[Path]] = contextvars.ContextVar(
    "s2vec_held_here", default=frozenset()
)
"""The outputs the code running in this context holds (:func:`hold`): it writes inside them."""


class OutputLockedError(ValueError):
    """Another live process is writing the output (a :class:`ValueError`, exit status 2)."""


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale_temporaries(folder: str | os.PathLike, target: str | None = None) -> list[Path]:
    """Delete the s2vec temporaries in ``folder`` whose owner process is gone.

    Only temporaries of this host are judged (another machine's processes
    cannot be seen); with ``target`` only those of that file name. Returns
    what was removed (also logged).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> dead = folder / f".a.gpkg.{TEMPORARY_TAG}-{host_tag()}-999999999-abcdef.gpkg"
    >>> _ = dead.write_text("half a file")
    >>> [p.name == dead.name for p in remove_stale_temporaries(folder)]
    [True]
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    removed = []
    prefix = f".{target}.{TEMPORARY_TAG}-{host_tag()}-" if target is not None else "."
    with os.scandir(root) as entries:  # a name test first: folders may hold many files
        candidates = [Path(e.path) for e in entries if e.name.startswith(prefix)]
    for entry in candidates:
        owner = temporary_owner(entry.name)
        if owner is None or owner[0] != host_tag() or process_alive(owner[1]):
            continue
        _remove(entry)
        removed.append(entry)
    if removed:
        log.info(
            "removed %d temporary file(s) left by interrupted runs in %s: %s",
            len(removed),
            root,
            ", ".join(p.name for p in removed[:5]),
        )
    return removed


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file of an output file or folder: ``.<name>.lock`` beside it.

    Examples
    --------
    >>> lock_path("runs/helsinki_work").as_posix()
    'runs/.helsinki_work.lock'
    """
    path = Path(target)
    return path.with_name(f".{path.name}{LOCK_SUFFIX}")


def _record(path: Path) -> dict[str, str]:
    """The ``pid=... host=...`` record of a lock file (empty when unreadable)."""
    with contextlib.suppress(OSError):
        return dict(part.split("=", 1) for part in path.read_text().split() if "=" in part)
    return {}


def _owner_text(path: Path) -> str:
    fields = _record(path)
    if "pid" in fields:
        return f"s2vec process {fields['pid']} on {fields.get('host', 'this machine')}"
    return "another s2vec process"


def _refuse(target: Path, lock: Path, folder: Path | None = None) -> OutputLockedError:
    """The refusal of a write to ``target`` (that lies in the held ``folder``, if given)."""
    where = "" if folder is None else f" lies in {str(folder)!r}, which"
    return OutputLockedError(
        f"{str(target)!r}{where} is being written by {_owner_text(lock)}; wait for it to finish "
        "or choose another output (two writers would mix their results)"
    )


def _record_alive(lock: Path) -> bool:
    """Whether the process a lock file names may live (on another host it cannot be seen)."""
    fields = _record(lock)
    pid = int(fields["pid"]) if fields.get("pid", "").isdigit() else 0
    return fields.get("host") != socket.gethostname() or process_alive(pid)


def _held(lock: Path) -> bool:
    """Whether a live process holds ``lock``, probed without waiting (a file left over is free)."""
    try:  # (non-blocking: a FIFO of that name must not hang the probe)
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:  # released meanwhile, or never there
        return False
    except PermissionError:  # another user's lock: its record says whom
        return _record_alive(lock)
    try:
        if filelock.lock_descriptor(fd, blocking=False):
            filelock.unlock_descriptor(fd)
            return False
        return True
    except OSError as exc:
        if exc.errno not in _NO_OS_LOCK:
            raise
        return _record_alive(lock)  # the file's existence is the lock
    finally:
        os.close(fd)


def check_not_held(target: str | os.PathLike) -> None:
    """Refuse to write ``target`` while another writer holds it or a folder it lies in.

    A lock (:func:`hold`) covers everything below its target: while ``s2vec
    run`` writes its work folder, no other command writes into it. Code that
    holds the lock itself (the run's own stages, in the same thread) passes.
    The path is checked as given and with its links resolved. A refusal is
    an :class:`OutputLockedError` naming the process that holds the lock.

    Examples
    --------
    >>> import tempfile, threading
    >>> work = Path(tempfile.mkdtemp()) / "work"
    >>> with hold(work):  # this code's own lock: its stages write inside
    ...     check_not_held(work / "images")
    >>> ready, done = threading.Event(), threading.Event()
    >>> def run():  # another writer, holding the work folder
    ...     with hold(work):
    ...         ready.set()
    ...         _ = done.wait(60)
    >>> thread = threading.Thread(target=run)
    >>> thread.start(), ready.wait(60)
    (None, True)
    >>> check_not_held(work / "images" / "meta.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    s2vec_geo.io.locks.OutputLockedError: '...meta.json' lies in '...work', which is being ...
    >>> done.set(); thread.join()
    """
    path = Path(os.path.abspath(target))
    held_here = _HELD_HERE.get()
    for start in dict.fromkeys([path, Path(os.path.realpath(path))]):
        for folder in (start, *start.parents):
            if folder in held_here:  # below it, this code writes its own products
                break
            if folder.name and _held(lock_path(folder)):
                raise _refuse(path, lock_path(folder), None if folder == start else folder)


def _check_inside(folder: Path) -> None:
    """Refuse to take ``folder`` while a writer holds an output directly inside it.

    (A run's products: ``images/`` or ``model/`` being written by another
    command when the run starts.)
    """
    if not folder.is_dir():
        return
    with os.scandir(folder) as entries:
        locks = [Path(e.path) for e in entries if e.name.startswith(".")]
    for lock in locks:
        if lock.name.endswith(LOCK_SUFFIX) and _held(lock):
            inner = folder / lock.name[1 : -len(LOCK_SUFFIX)]
            raise _refuse(inner, lock)


_NO_OS_LOCK = {errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}
"""What ``filelock`` raises where the system (or the file system) has no file locks."""


def _open_locked(target: Path, lock: Path) -> int | None:
    """Open ``lock`` with the OS lock held; refuse a live holder; ``None``: the OS has no lock."""
    while True:
        try:
            fd, created = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            try:
                fd, created = os.open(lock, os.O_RDWR), False
            except FileNotFoundError:  # its owner just removed it: try again
                continue
        try:
            locked = filelock.lock_descriptor(fd, blocking=False)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _NO_OS_LOCK:
                raise
            if created:  # the lock is the file's existence: take it afresh (_open_exclusive)
                lock.unlink()
            return None
        if not locked:
            os.close(fd)
            raise _refuse(target, lock)
        try:  # the previous owner may have removed the file between our open and lock
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _open_exclusive(target: Path, lock: Path) -> int:
    """Create ``lock`` (its existence is the lock), taking over one left by a process gone."""
    while True:
        try:
            return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if _record_alive(lock):
                raise OutputLockedError(
                    f"{str(target)!r} is being written by {_owner_text(lock)}; wait for it to "
                    f"finish, or delete {str(lock)!r} if no s2vec process runs"
                ) from None
            log.info("taking over %s, left by %s that is gone", lock, _owner_text(lock))
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()


def _release(fd: int, lock: Path, native: bool) -> None:
    """Remove ``lock`` while held (a later opener finds another file or none), then free it."""
    try:
        lock.unlink()
        removed = True
    except FileNotFoundError:
        removed = True
    except PermissionError:  # Windows deletes no open file: close first
        removed = False
    if native:
        with contextlib.suppress(OSError):
            filelock.unlock_descriptor(fd)
    os.close(fd)
    if not removed:
        with contextlib.suppress(OSError):
            lock.unlink()


@contextlib.contextmanager
def hold(target: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of an output file or folder while writing it.

    Takes ``.<name>.lock`` beside ``target`` (see :func:`lock_path`), records
    this process's id and host in it, and removes stale temporaries of
    ``target`` (beside it and, for a folder, inside it) left by killed runs.
    A lock held by a live process, on ``target``, on a folder it lies in
    (:func:`check_not_held`) or on an output directly inside it, raises
    :class:`OutputLockedError`; one left by
    a process that died is taken over. While held, the code running in this
    context (thread) writes inside ``target`` as its owner; other writers
    into it are refused. A ``target`` that is a link is held under both
    names, the link's and its target's, so that no writer passes by the other.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> with hold(out):  # doctest: +ELLIPSIS
    ...     with hold(out):
    ...         pass
    Traceback (most recent call last):
    ...
    s2vec_geo.io.locks.OutputLockedError: ... is being written by s2vec process ...
    >>> lock_path(out).exists()
    False
    """
    path = Path(os.path.abspath(target))  # "." has no name to lock beside
    real = Path(os.path.realpath(path))
    linked = Path(os.path.realpath(path.parent)) / path.name != real  # the name is a link
    with _hold_one(path) as lock, _hold_one(real) if linked else contextlib.nullcontext():
        yield lock


@contextlib.contextmanager
def _hold_one(path: Path) -> Iterator[Path]:
    """:func:`hold` under one name (an absolute path)."""
    lock = lock_path(path)
    if not lock.parent.is_dir():
        raise FileNotFoundError(
            f"output folder {str(lock.parent)!r} does not exist; create it first"
        )
    check_not_held(path)
    _check_inside(path)
    fd = _open_locked(path, lock)
    native = fd is not None
    if fd is None:
        fd = _open_exclusive(path, lock)
    try:
        stale = os.fstat(fd).st_size > 0
        if stale:
            log.info("taking over %s, left by %s that is gone", lock, _owner_text(lock))
        os.ftruncate(fd, 0)
        os.write(fd, f"pid={os.getpid()} host={socket.gethostname()}\n".encode())
        remove_stale_temporaries(path.parent, path.name)
        if path.is_dir():
            remove_stale_temporaries(path)
        owner = _HELD_HERE.set(_HELD_HERE.get() | {path, Path(os.path.realpath(path))})
        try:
            yield lock
        finally:
            _HELD_HERE.reset(owner)
    finally:
        _release(fd, lock, native)
