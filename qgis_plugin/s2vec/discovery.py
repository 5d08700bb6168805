"""Which Python runs the engine: the one the user chose, else one found by itself.

The Processing option (:mod:`.settings`) or the environment variable
``S2VEC_ENGINE_PYTHON`` choose the engine's interpreter. When neither is
set, the plugin looks where an s2vec-geo installation usually is, in this
order:

1. the ``s2vec`` command on ``PATH``: the interpreter of its console script
   (its ``#!`` line, or pip's ``exec`` line for long paths; on Windows the
   ``python.exe`` of the environment holding ``Scripts\\s2vec.exe``);
2. the active virtualenv (``VIRTUAL_ENV``);
3. the active conda environment (``CONDA_PREFIX``).

A candidate is skipped when it is of the environment QGIS's own Python loads
its modules from (:func:`qgis_own`): the engine's wheels there would load into
QGIS and crash it. A candidate is taken when it runs ``python -m s2vec_geo --version`` (about
0.2 s: the command line starts without its scientific libraries); the
answer is remembered for the QGIS session, per interpreter. Every algorithm
logs which interpreter runs the engine and how it was chosen.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsProcessingUtils

from .environment import engine_environment
from .settings import ENGINE_PYTHON, SETTING_PATH, configured_python

ENV_PYTHONS = (("bin", "python"), ("Scripts", "python.exe"), ("python.exe",))
"""Where an environment folder (venv, conda) keeps its interpreter: POSIX, then Windows."""
ENVIRONMENTS = (
    ("VIRTUAL_ENV", "the active virtualenv"),
    ("CONDA_PREFIX", "the active conda environment"),
)
CHECK_SECONDS = 60
QGIS_OWN = (
    "an engine there would put its libraries into QGIS; install s2vec-geo in a separate "
    "environment and do not start QGIS from an activated one"
)
_VERSIONS: dict[str, str | None] = {}
"""Interpreter -> the s2vec-geo version it runs (``None``: none), for this session."""


def script_interpreter(script: str) -> str | None:
    """The Python interpreter a console script runs with; ``None`` when it names none.

    Parameters
    ----------
    script
        A console script such as ``<env>/bin/s2vec`` (or ``s2vec.exe`` on Windows).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> script = pathlib.Path(tempfile.mkdtemp()) / "s2vec"
    >>> _ = script.write_text("#!/opt/env/bin/python3\\nimport sys\\n")
    >>> script_interpreter(str(script))
    '/opt/env/bin/python3'
    >>> _ = script.write_text("#!/bin/sh\\n'''exec' \\"/a b/python\\" \\"$0\\" \\"$@\\"\\n' '''\\n")
    >>> script_interpreter(str(script))
    '/a b/python'
    """
    if script.lower().endswith(".exe"):  # <env>\\Scripts\\s2vec.exe
        return env_python(os.path.dirname(os.path.dirname(script)))
    try:
        with open(script, "rb") as stream:
            head = stream.read(4096).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return None
    words = _words(head[0][2:])
    if words == ["/bin/sh"] and len(head) > 1:  # pip's form for long or spaced paths
        words = _words(head[1])
        return words[1] if len(words) > 1 and words[0] == "exec" else None
    if len(words) > 1 and os.path.basename(words[0]) == "env":
        return shutil.which(words[1])
    return words[0] if words else None


def _words(line: str) -> list[str]:
    """``line`` split as a shell would; empty when it cannot be."""
    try:
        return shlex.split(line)
    except ValueError:
        return []


def env_python(prefix: str) -> str | None:
    """The interpreter of an environment folder (venv or conda), if it holds one."""
    for parts in ENV_PYTHONS:
        path = os.path.join(prefix, *parts)
        if os.path.isfile(path):
            return path
    return None


def candidates() -> list[tuple[str | None, str]]:
    """Interpreters that may run the engine and where each was found, in the order tried.

    The interpreter is ``None`` where a place was found without one.
    """
    found: list[tuple[str | None, str]] = []
    script = shutil.which("s2vec")
    if script:
        where = f"the interpreter of the s2vec command on PATH ({script})"
        found.append((script_interpreter(script), where))
    for variable, what in ENVIRONMENTS:
        prefix = os.environ.get(variable, "").strip()
        if prefix:
            found.append((env_python(prefix), f"{what} ({variable}={prefix})"))
    return found


def environment_of(python: str) -> str:
    """The environment folder an interpreter belongs to (``<env>/bin/python`` -> ``<env>``).

    Examples
    --------
    >>> environment_of("/opt/env/bin/python")
    '/opt/env'
    """
    folder = os.path.dirname(os.path.abspath(python))
    if os.path.basename(folder).lower() in ("bin", "scripts"):
        folder = os.path.dirname(folder)
    return os.path.realpath(folder)


def qgis_own(python: str) -> bool:
    """Whether ``python`` is of the environment QGIS's own Python loads its modules from.

    That is QGIS's ``sys.prefix``: the system Python (its user site-packages
    included), or a virtualenv QGIS was started from (first on ``PATH``). The
    engine's wheels installed there would load into QGIS itself and crash it,
    so the search never takes such a Python (one chosen in the options is used).
    """
    own = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    return environment_of(python) in own


def engine_version(python: str) -> str | None:
    """The s2vec-geo version ``python`` runs as an engine, or ``None``; asked once a session."""
    key = os.path.abspath(python)
    if key not in _VERSIONS:
        _VERSIONS[key] = _ask_version(key)
    return _VERSIONS[key]


def _ask_version(python: str) -> str | None:
    """Run ``python -m s2vec_geo --version`` as the engine would run; its version or ``None``."""
    if not os.access(python, os.X_OK):
        return None
    try:
        done = subprocess.run(
            [python, "-m", "s2vec_geo", "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CHECK_SECONDS,
            env=engine_environment(),
            cwd=QgsProcessingUtils.tempFolder(),  # `-m` must not pick up a package from cwd
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.split()
    return words[-1] if done.returncode == 0 and words[:1] == ["s2vec-geo"] else None


def find_engine() -> tuple[str, str]:
    """The first candidate that runs the engine: (interpreter, where it was found).

    Raises
    ------
    QgsProcessingException
        When none does; the message says where the plugin looked and how to fix it.
    """
    tried = []
    for python, where in candidates():
        if python is not None and qgis_own(python):
            tried.append(f"{where}: QGIS's own Python, skipped ({QGIS_OWN})")
            continue
        if python is not None and engine_version(python):
            return os.path.abspath(python), where
        tried.append(f"{where}: {'no s2vec-geo there' if python else 'no python there'}")
    looked = "; ".join(tried) or "no s2vec command on PATH, no active virtualenv or conda env"
    raise QgsProcessingException(
        f"No S2Vec engine found ({looked}). Install s2vec-geo into a Python environment "
        "(python3 -m venv ~/s2vec-env && ~/s2vec-env/bin/pip install s2vec-geo) and set "
        f"{SETTING_PATH} (or {ENGINE_PYTHON}) to its python, e.g. ~/s2vec-env/bin/python."
    )


def engine_python(feedback: QgsProcessingFeedback | None = None) -> str:
    """The engine interpreter: the one chosen in the options, else one found; logged.

    Parameters
    ----------
    feedback
        Told which interpreter runs the engine and how it was chosen.

    Raises
    ------
    QgsProcessingException
        When the chosen interpreter is not an executable file, or none was
        chosen and none found; the message names the option to set.

    Examples
    --------
    >>> engine_python()  # doctest: +SKIP
    '/home/me/s2vec-env/bin/python'
    """
    chosen = configured_python()
    if chosen is not None:
        python, how = chosen
    else:
        python, where = find_engine()
        how = (
            f"s2vec-geo {engine_version(python)}, found as {where}; {SETTING_PATH} chooses another"
        )
    if feedback is not None:
        feedback.pushInfo(f"S2Vec engine: {python} ({how})")
    return python
