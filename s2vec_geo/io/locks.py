"""Who writes where: output locks and temporaries named after the process that owns them.

Two writers must never share an output, and a killed writer must not leave
debris that nobody removes. Both rest on one convention, the owner's process
id written where the next run can read it:

- **Temporaries** (made only by :func:`s2vec_geo.io.layers.atomic_path`) are named
  ``.<target name>.s2tmp-<host>-<pid>-<random><suffix>`` beside their target:
  hidden, recognisably s2vec's, and tied to the process that writes them.
  :func:`remove_stale_temporaries` deletes those whose process is gone (on
  this host), e.g. after ``kill -9``, the next time the same place is written.
- **Locks**: :func:`hold` keeps ``.<target name>.lock`` beside an output file
  or folder for as long as a command writes it. The file records the owner's
  process id and host; a second writer is refused with a message naming them.
  On POSIX the lock is an ``flock`` on that file, which the kernel releases
  when the owner dies in any way, so a lock left by a killed run is stale by
  construction and is taken over (and logged) by the next run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: O_EXCL lock files, no takeover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TEMPORARY_TAG = "s2tmp"
LOCK_SUFFIX = ".lock"
_TEMPORARY = re.compile(rf"^\.(?P<name>.+)\.{TEMPORARY_TAG}-(?P<host>[0-9a-f]{{6}})-(?P<pid>\d+)-")


class OutputLockedError(ValueError):
    """Another live process is writing the output (a :class:`ValueError`, exit status 2)."""


def host_tag() -> str:
    """Six hex digits naming this machine in temporaries (folders may be shared).

    Examples
    --------
    >>> len(host_tag())
    6
    """
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine.

    Examples
    --------
    >>> process_alive(os.getpid())
    True
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:  # pragma: no cover - e.g. Windows without that process
        return False
    return True


def temporary_name(target: str | os.PathLike) -> str:
    """Name of a new temporary for ``target``, owned by this process (same suffix).

    Examples
    --------
    >>> name = temporary_name("out/cells.gpkg")
    >>> name.startswith(".cells.gpkg.s2tmp-") and name.endswith(".gpkg")
    True
    >>> temporary_owner(name) == (host_tag(), os.getpid())
    True
    """
    path = Path(target)
    tag = f"{TEMPORARY_TAG}-{host_tag()}-{os.getpid()}-{secrets.token_hex(3)}"
    return f".{path.name}.{tag}{path.suffix}"


def temporary_owner(name: str) -> tuple[str, int] | None:
    """``(host tag, pid)`` of an s2vec temporary's name, ``None`` for any other name.

    Examples
    --------
    >>> temporary_owner(".model.pt.s2tmp-0a1b2c-4242-ffeedd.pt-journal")
    ('0a1b2c', 4242)
    >>> temporary_owner("model.pt") is None
    True
    """
    match = _TEMPORARY.match(name)
    return None if match is None else (match["host"], int(match["pid"]))


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


def _owner_text(path: Path) -> str:
    with contextlib.suppress(OSError):
        fields = dict(part.split("=", 1) for part in path.read_text().split() if "=" in part)
        if "pid" in fields:
            return f"s2vec process {fields['pid']} on {fields.get('host', 'this machine')}"
    return "another s2vec process"


def _refuse(target: Path, lock: Path) -> OutputLockedError:
    return OutputLockedError(
        f"{str(target)!r} is being written by {_owner_text(lock)}; wait for it to finish "
        "or choose another output (two writers would mix their results)"
    )


def _open_locked(target: Path, lock: Path) -> int:
    """Open ``lock`` with an exclusive ``flock`` held; refuse if a live process holds it."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise _refuse(target, lock) from None
            raise
        try:  # the previous owner may have removed the file between our open and flock
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _open_exclusive(target: Path, lock: Path) -> int:  # pragma: no cover - Windows
    try:
        return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise OutputLockedError(
            f"{str(target)!r} is being written by {_owner_text(lock)}; wait for it to finish, "
            f"or delete {str(lock)!r} if no s2vec process runs"
        ) from None


@contextlib.contextmanager
def hold(target: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of an output file or folder while writing it.

    Takes ``.<name>.lock`` beside ``target`` (see :func:`lock_path`), records
    this process's id and host in it, and removes stale temporaries of
    ``target`` (beside it and, for a folder, inside it) left by killed runs.
    A lock held by a live process raises :class:`OutputLockedError`; one left
    by a process that died is taken over.

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
    lock = lock_path(path)
    if not lock.parent.is_dir():
        raise FileNotFoundError(
            f"output folder {str(lock.parent)!r} does not exist; create it first"
        )
    fd = _open_locked(path, lock) if fcntl is not None else _open_exclusive(path, lock)
    try:
        stale = os.fstat(fd).st_size > 0
        if stale:
            log.info("taking over %s, left by %s that is gone", lock, _owner_text(lock))
        os.ftruncate(fd, 0)
        os.write(fd, f"pid={os.getpid()} host={socket.gethostname()}\n".encode())
        remove_stale_temporaries(path.parent, path.name)
        if path.is_dir():
            remove_stale_temporaries(path)
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        os.close(fd)
