"""Names that say which process owns them: temporaries, and whether their owner still runs.

The one definition of the owner-named temporaries (``.<target name>.s2tmp-<host>-<pid>-
<random><suffix>``) for the engine (:mod:`s2vec_geo.io.locks`) and the QGIS plugin,
which loads this file by its path (it cannot import the engine), so a staged
output a killed QGIS left is the engine's temporary and is removed the next
time that place is written. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import sys
from pathlib import Path

TEMPORARY_TAG = "s2tmp"
STAGED_TAG = "s2new"
"""A complete new output waiting to be moved into place (kept by recovery: it finishes the move)."""
ASIDE_TAG = "s2old"
"""An old output moved aside during a swap (kept by recovery until the new one is in place)."""
_OWNED = re.compile(
    rf"^\.(?P<name>.+)\.(?P<tag>{TEMPORARY_TAG}|{STAGED_TAG}|{ASIDE_TAG})-"
    r"(?P<owner>(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]+)"
)


def host_tag() -> str:
    """Six hex digits naming this machine in temporaries (folders may be shared).

    Examples
    --------
    >>> len(host_tag())
    6
    """
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


def owner_tag() -> str:
    """``<host>-<pid>-<random>``: this process, in a name it owns.

    Examples
    --------
    >>> owner_tag().split("-")[:2] == [host_tag(), str(os.getpid())]
    True
    """
    return f"{host_tag()}-{os.getpid()}-{secrets.token_hex(3)}"


def _windows_process_alive(pid: int) -> bool:  # pragma: no cover - Windows
    """Ask Windows: ``os.kill(pid, 0)`` there would end the process, not probe it."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it runs, as another user
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259
    finally:  # 259: STILL_ACTIVE
        kernel32.CloseHandle(handle)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine.

    Examples
    --------
    >>> process_alive(os.getpid()), process_alive(0)
    (True, False)
    """
    if pid <= 0:
        return False
    if sys.platform == "win32":  # pragma: no cover - Windows
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: no signal, only the check that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:  # pragma: no cover - a platform without signal 0
        return False
    return True


def temporary_name(target: str | os.PathLike) -> str:
    """Name of a new temporary for ``target`` (a file or folder), owned by this process.

    Examples
    --------
    >>> name = temporary_name("out/cells.gpkg")
    >>> name.startswith(".cells.gpkg.s2tmp-") and name.endswith(".gpkg")
    True
    >>> temporary_owner(name) == (host_tag(), os.getpid())
    True
    """
    path = Path(os.path.normpath(target))
    return f".{path.name}.{TEMPORARY_TAG}-{owner_tag()}{path.suffix}"


def temporary_owner(name: str) -> tuple[str, int] | None:
    """``(host tag, pid)`` of an s2vec temporary's name, ``None`` for any other name.

    Staged outputs and old ones moved aside (:func:`owned_name`) are not
    temporaries: they may be the only copy of an output.

    Examples
    --------
    >>> temporary_owner(".model.pt.s2tmp-0a1b2c-4242-ffeedd.pt-journal")
    ('0a1b2c', 4242)
    >>> temporary_owner("model.pt") is None, temporary_owner(".ds.s2old-0a1b2c-4242-ffeedd")
    (True, None)
    """
    match = _OWNED.match(name)
    if match is None or match["tag"] != TEMPORARY_TAG:
        return None
    return match["host"], int(match["pid"])


def owned_name(target: str | os.PathLike, tag: str, owner: str) -> str:
    """``.<target name>.<tag>-<owner>``: a hidden name of a swap step (:data:`ASIDE_TAG`, ...).

    Examples
    --------
    >>> owned_name("out/images", ASIDE_TAG, "0a1b2c-4242-ffeedd")
    '.images.s2old-0a1b2c-4242-ffeedd'
    """
    return f".{Path(os.path.normpath(target)).name}.{tag}-{owner}"


def abandoned(name: str, target: str, tag: str) -> str | None:
    """The owner part of ``name`` when it is ``target``'s ``tag`` step of a process gone.

    Only names of this host are judged (another machine's processes cannot be
    seen), and never a live process's: it is still at work.

    Examples
    --------
    >>> abandoned(f".ds.s2old-{host_tag()}-999999999-ab", "ds", ASIDE_TAG)[-3:]
    '-ab'
    >>> abandoned(f".ds.s2old-{host_tag()}-{os.getpid()}-ab", "ds", ASIDE_TAG) is None
    True
    """
    match = _OWNED.match(name)
    if match is None or (match["name"], match["tag"]) != (target, tag):
        return None
    if match["host"] != host_tag() or process_alive(int(match["pid"])):
        return None
    return match["owner"]
