"""Full disks: check the space a big write needs before making it, and say so in one line.

A full disk fails a write in three ways, each worse than the last: a
``write`` that raises ``OSError(ENOSPC)`` (clear enough, once its message
names the folder and the size), a library that turns it into its own error
or only logs it (``torch.save``'s ``RuntimeError``, GDAL's errors that
rasterio logs and then closes the file), and a memory-mapped file whose
pages have no disk behind them, which kills the process with ``SIGBUS``
the moment one is touched -- no message, no clean-up.

So a writer estimates what it needs and calls :func:`enough_space`: it
refuses before anything is written when the folder's disk has less free
space (:class:`DiskFullError`, an ``OSError`` with ``errno.ENOSPC``: one
line and exit status 2 on the command line, naming the folder, the size
needed, the size free and the fix), and translates a disk that fills up
while writing anyway into the same error. A file about to be memory-mapped
gets its blocks first with :func:`reserve` (``posix_fallocate``), so a full
disk is an error before any page is touched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from s2vec_geo.core.guards import format_bytes

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
"""``errno`` values of a write that found no space: the disk is full or the user's quota is."""

NEARLY_FULL = 2**20
"""Free bytes under which a library's write error without ``errno`` is put down to a full
disk (:func:`enough_space`)."""

NO_FALLOCATE_ERRNOS = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS})
"""``errno`` values of ``posix_fallocate`` on a file system that cannot reserve blocks."""

DISK_BLOCK = 4096
"""Bytes of a disk block, the least a file takes on disk (on most file systems)."""

RERUN_FIX = (
    "free some space or choose a folder on another disk, then run it again "
    "(`s2vec run` and `s2vec train`: with --resume)"
)
"""What to do about a full disk: a run continues where it stopped."""


class DiskFullError(OSError):
    """Not enough free disk space for a write (``errno.ENOSPC``; exit status 2 on the CLI).

    Its text is the message alone, without the ``[Errno 28]`` prefix.

    Examples
    --------
    >>> exc = DiskFullError(errno.ENOSPC, "not enough free space in 'out'")
    >>> str(exc), exc.errno == errno.ENOSPC, isinstance(exc, OSError)
    ("not enough free space in 'out'", True, True)
    """

    def __str__(self) -> str:
        return str(self.strerror)


def on_disk(n_bytes: int) -> int:
    """The disk space of a file of ``n_bytes``: whole blocks.

    Examples
    --------
    >>> on_disk(1), on_disk(4096), on_disk(4097)
    (4096, 4096, 8192)
    """
    return -(-n_bytes // DISK_BLOCK) * DISK_BLOCK


def free_space(folder: str | os.PathLike) -> int | None:
    """Bytes free for this user on the disk holding ``folder``; ``None`` if it cannot be asked.

    Examples
    --------
    >>> free_space(".") > 0, free_space("no/such/folder")
    (True, None)
    """
    try:
        return shutil.disk_usage(folder).free
    except OSError:  # missing, or a file system that does not say: the writer finds out
        return None


def disk_full(
    folder: str | os.PathLike, needed: int | None, what: str, fix: str = RERUN_FIX
) -> DiskFullError:
    """The error for ``what`` not fitting in ``folder``: the size needed and free, and the fix.

    Examples
    --------
    >>> print(disk_full(".", 2**50, "the GeoTIFFs", "free some space"))  # doctest: +ELLIPSIS
    not enough free disk space in '.' for the GeoTIFFs (about 1024.0 TiB needed, ... free); ...
    >>> print(disk_full(".", 1, "the GeoTIFFs", "free some space"))  # doctest: +ELLIPSIS
    not enough ... for the GeoTIFFs (the disk filled up while writing); free some space
    """
    free = free_space(folder)
    if needed is None or free is None or free >= needed:  # e.g. another writer, or no inodes
        size = "the disk filled up while writing"
    else:
        size = f"about {format_bytes(needed)} needed, {format_bytes(free)} free"
    return DiskFullError(
        errno.ENOSPC, f"not enough free disk space in {str(folder)!r} for {what} ({size}); {fix}"
    )


def check_space(folder: str | os.PathLike, needed: int, what: str, fix: str = RERUN_FIX) -> None:
    """Refuse to write about ``needed`` bytes of ``what`` into ``folder`` when less is free.

    A folder whose free space cannot be asked (missing, or a file system
    that does not say) passes: the writer reports what goes wrong.

    Raises
    ------
    DiskFullError
        Less than ``needed`` bytes free.

    Examples
    --------
    >>> check_space(".", 1, "a byte")
    >>> check_space(".", 2**70, "a zettabyte")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    s2vec_geo.core.disk.DiskFullError: not enough free disk space in '.' for a zettabyte ...
    """
    free = free_space(folder)
    if free is not None and free < needed:
        raise disk_full(folder, needed, what, fix)


@contextlib.contextmanager
def enough_space(
    folder: str | os.PathLike,
    needed: int | None,
    what: str,
    fix: str = RERUN_FIX,
    library_errors: tuple[type[Exception], ...] = (),
) -> Iterator[None]:
    """Refuse a write of about ``needed`` bytes into ``folder`` that cannot fit; translate
    a disk that fills up inside the block.

    Parameters
    ----------
    folder
        Where the write goes (a folder that does not exist is not checked:
        the writer reports it).
    needed
        The estimated size in bytes; ``None`` when it cannot be estimated
        (then only a full disk inside the block is translated).
    what
        What is written, for the message, e.g. ``"the image shards"``.
    fix
        What the user can do, for the message.
    library_errors
        Errors of libraries that lose the ``errno`` (GDAL's "Failed to commit
        transaction", Arrow's ``IOError``): they count as a full disk when
        less than :data:`NEARLY_FULL` is free as they are raised, so enter
        the block while the partial output still takes its space.

    Raises
    ------
    DiskFullError
        Before the block when less than ``needed`` is free, or from the block
        when a write in it fails for want of space.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with enough_space(folder, 100, "a small file"):
    ...     _ = Path(folder, "a.txt").write_text("fits")
    >>> with enough_space(folder, None, "a file"):  # doctest: +ELLIPSIS
    ...     raise OSError(errno.ENOSPC, "No space left on device")
    Traceback (most recent call last):
    ...
    s2vec_geo.core.disk.DiskFullError: not enough free disk space in '...' for a file (...
    """
    if needed is not None:
        check_space(folder, needed, what, fix)
    try:
        yield
    except DiskFullError:
        raise
    except (OSError, *library_errors) as exc:
        if not for_want_of_space(exc, folder):
            raise
        raise disk_full(folder, needed, what, fix) from exc


def for_want_of_space(exc: Exception, folder: str | os.PathLike) -> bool:
    """Whether ``exc``, raised by a write into ``folder``, means that the disk is full.

    An ``OSError`` says so by its ``errno``; an error without one (a
    library's) when less than :data:`NEARLY_FULL` is free now.

    Examples
    --------
    >>> for_want_of_space(OSError(errno.ENOSPC, "No space left on device"), ".")
    True
    >>> for_want_of_space(RuntimeError("Failed to commit transaction"), ".")
    False
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno in DISK_FULL_ERRNOS
    free = free_space(folder)
    return free is not None and free < NEARLY_FULL


def reserve(path: str | os.PathLike, size: int) -> None:
    """Give the file at ``path`` its disk blocks for ``size`` bytes before it is memory-mapped.

    A page of a memory map that the disk has no room for kills the process
    with ``SIGBUS`` when it is written; reserved blocks make a full disk an
    ``OSError(ENOSPC)`` here instead. Where the system has no
    ``posix_fallocate`` (Windows, macOS) or the file system cannot reserve
    (e.g. some network file systems), the disk's free space is compared
    with ``size`` instead.

    Raises
    ------
    OSError
        ``ENOSPC`` when the disk has no room for the file.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "shard.npy"
    >>> _ = path.write_bytes(b"")
    >>> reserve(path, 8192)
    """
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        fd = os.open(path, os.O_RDWR)
        try:
            fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in NO_FALLOCATE_ERRNOS:
                raise
        finally:
            os.close(fd)
    free = free_space(Path(path).parent)
    if free is not None and free < size:  # a plain ENOSPC: the caller's enough_space names it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
