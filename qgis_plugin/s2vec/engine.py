"""Run the s2vec-geo engine out of process, the way QGIS runs GRASS or SAGA.

The engine is ``<python> -m s2vec_geo <command> ...`` in the interpreter set
in the Processing options (:mod:`.settings`) or found by the plugin
(:mod:`.discovery`). QGIS links its own GDAL, GEOS
and PROJ into its process, which clash with the wheels of shapely, pyogrio
and rasterio; a separate process also keeps torch out of QGIS.

Protocol: with ``S2VEC_PROGRESS=lines`` the engine writes
``s2vec-progress: <percent> <description>`` lines to standard error; bad
input ends with exit status 2 and one ``s2vec <cmd>: error: ...`` line.
Outputs are written into a private work folder and moved to their
destination only after the engine succeeded, so a failed or cancelled run
never leaves a partial output behind.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence

from qgis.core import QgsProcessingException, QgsProcessingFeedback

from .destinations import processing_temp_folder, remove, staging_name
from .discovery import engine_python
from .environment import engine_environment
from .settings import ENGINE_PYTHON, SETTING_PATH
from .words import Words

PROGRESS_PREFIX = "s2vec-progress:"
WARNING_PREFIX = "WARNING "
ERROR_MARKER = ": error: "
POLL_SECONDS = 0.1
CANCEL_GRACE_SECONDS = 5.0
EXPORT_SHARE = 5.0
"""Percent of the progress bar for exporting the input layers; the engine has the rest."""


def engine_command(command: str, args: Sequence[str], python: str | None = None) -> list[str]:
    """Return the argument vector that runs one ``s2vec`` sub-command.

    Parameters
    ----------
    command
        The ``s2vec`` sub-command, e.g. ``"cover"``.
    args
        Its arguments, already converted to strings.
    python
        Engine interpreter; defaults to the chosen or found one (:mod:`.discovery`).

    Examples
    --------
    >>> engine_command("cover", ["a.gpkg", "--level", "12"], python="/venv/bin/python")
    ['/venv/bin/python', '-m', 's2vec_geo', 'cover', 'a.gpkg', '--level', '12']
    """
    return [python or engine_python(), "-m", "s2vec_geo", command, *map(str, args)]


def option(flag: str, value: object) -> str:
    """One ``--flag=value`` engine argument: a value starting with ``-`` stays a value.

    Examples
    --------
    >>> option("--category-column", "-kind")
    '--category-column=-kind'
    """
    return f"{flag}={value}"


def _pump(stream, lines: queue.Queue) -> None:
    """Copy ``stream``'s lines into ``lines``; ``None`` marks the end."""
    for line in iter(stream.readline, ""):
        lines.put(line.rstrip("\r\n"))
    stream.close()
    lines.put(None)


def _stop(proc: subprocess.Popen) -> None:
    """Interrupt the engine's whole process group, killing it after a grace period.

    SIGINT lets the engine unwind (its atomic writers remove their temporary
    files); SIGKILL follows if it has not exited within the grace period.
    """
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(CANCEL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    proc.wait()


class Router:
    """Routes the engine's output lines to the Processing feedback, in QGIS's words.

    Progress lines move the bar over what is left of it after the input export
    (from ``start`` percent to 100) and change the progress text only when it
    changes; warnings and log lines name parameters as the dialog does
    (:class:`.words.Words`) and the paths the user gets (:func:`shown_paths`).
    The engine's one-line error (``s2vec <command>: error: ...``) is not echoed:
    it becomes the algorithm's error, which Processing reports.
    """

    def __init__(
        self,
        feedback: QgsProcessingFeedback,
        shown: Mapping[str, str] | None = None,
        words: Words | None = None,
    ) -> None:
        self.feedback = feedback
        self.shown = shown or {}
        self.words = words or Words()
        self.start = min(feedback.progress(), EXPORT_SHARE)
        self.text = ""

    def say(self, line: str) -> str:
        """``line`` with QGIS's names and the user's paths."""
        return self.words(shown_paths(line, self.shown))

    def __call__(self, line: str) -> None:
        """Route one line."""
        if line.startswith(PROGRESS_PREFIX):
            percent, _, description = line[len(PROGRESS_PREFIX) :].strip().partition(" ")
            with contextlib.suppress(ValueError):
                share = (100.0 - self.start) / 100.0
                self.feedback.setProgress(self.start + share * float(percent))
            if description and description != self.text:
                self.text = description
                self.feedback.setProgressText(description)
        elif line.startswith(WARNING_PREFIX):
            # The engine's warnings (e.g. "the model does not beat its baselines") in plain words
            warning = line[len(WARNING_PREFIX) :].partition(": ")[2] or line
            self.feedback.pushWarning(self.say(warning))
        elif line and ERROR_MARKER not in line:
            self.feedback.pushConsoleInfo(self.say(line))


def shown_paths(line: str, shown: Mapping[str, str]) -> str:
    """``line`` with the work-folder paths it names replaced by what the user gets.

    The engine writes into a private work folder that is removed after the
    run; its log names those paths. ``shown`` maps each to its destination
    (or to words saying it was not kept), so the log names only paths that
    exist afterwards.

    Examples
    --------
    >>> shown_paths("model: /tmp/w/model.pt", {"/tmp/w/model.pt": "/data/m.pt"})
    'model: /data/m.pt'
    """
    for work in sorted(shown, key=len, reverse=True):
        line = line.replace(work, shown[work])
    return line


def _failure(python: str, status: int, output: list[str], say: Router) -> QgsProcessingException:
    """Turn a failed engine run into an exception with a message a user can act on."""
    missing = [line for line in output if "No module named" in line]
    if missing and "s2vec_geo" in missing[-1]:
        return QgsProcessingException(
            f"The S2Vec engine Python {python!r} does not have s2vec-geo installed: run "
            f"`{python} -m pip install s2vec-geo` or set {SETTING_PATH} (or {ENGINE_PYTHON}) "
            "to an environment that has it."
        )
    if missing:
        return QgsProcessingException(
            f"The S2Vec engine environment of {python!r} is broken ({missing[-1].strip()}): "
            f"reinstall it with `{python} -m pip install --force-reinstall s2vec-geo` or set "
            f"{SETTING_PATH} (or {ENGINE_PYTHON}) to a working environment."
        )
    errors = [line for line in output if ERROR_MARKER in line]
    if errors:  # the engine's own one-line message (bad input: status 2; else 1)
        return QgsProcessingException(say.say(errors[-1]))
    tail = "\n".join(shown_paths(line, say.shown) for line in output[-15:])  # for a bug report
    return QgsProcessingException(f"The S2Vec engine failed (exit status {status}):\n{tail}")


def run_engine(
    command: str,
    args: Sequence[str],
    feedback: QgsProcessingFeedback | None = None,
    python: str | None = None,
    shown: Mapping[str, str] | None = None,
    words: Words | None = None,
) -> list[str]:
    """Run one ``s2vec`` sub-command, streaming progress and honouring Cancel.

    Parameters
    ----------
    command
        The ``s2vec`` sub-command, e.g. ``"cover"``.
    args
        Its arguments.
    feedback
        Receives progress, progress text and the engine's log lines; its
        ``isCanceled()`` is polled ten times a second.
    python
        Engine interpreter; defaults to the chosen or found one, which is logged.
    shown
        Work-folder paths and what the log shows instead (see :func:`shown_paths`).
    words
        Names the algorithm's parameters in the engine's messages (default: the declared ones).

    Returns
    -------
    list of str
        The engine's output lines other than progress lines, as the engine wrote them.

    Raises
    ------
    QgsProcessingException
        When the engine cannot start, fails (the message is the engine's own
        one-line error for bad input) or the user cancelled.

    Examples
    --------
    >>> run_engine("cover", ["parks.gpkg", "--level", "14", "--output", "cells.gpkg"])
    ... # doctest: +SKIP
    """
    feedback = feedback or QgsProcessingFeedback()
    argv = engine_command(command, args, python or engine_python(feedback))
    route = Router(feedback, shown, words)
    feedback.pushCommandInfo(shown_paths(subprocess.list2cmdline(argv), route.shown))
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=engine_environment(),
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=os.name == "posix",
            cwd=processing_temp_folder(),  # `-m` must not pick up a package from cwd
        )
    except OSError as exc:
        raise QgsProcessingException(
            f"Cannot start the S2Vec engine Python {argv[0]!r} ({exc}); fix {SETTING_PATH} "
            f"(or {ENGINE_PYTHON})."
        ) from exc
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    try:
        output = _follow(command, proc, lines, route)
    finally:
        if proc.poll() is None:  # cancelled, or the feedback failed: the engine stops too
            _stop(proc)
        # No thread of the plugin outlives the algorithm: a Python thread still running
        # when QGIS shuts down (qgis_process exits right after the algorithm) can crash it.
        reader.join(CANCEL_GRACE_SECONDS)
    status = proc.wait()
    if status != 0:
        raise _failure(argv[0], status, output, route)
    return output


def _follow(
    command: str,
    proc: subprocess.Popen,
    lines: queue.Queue,
    route: Router,
) -> list[str]:
    """Route the engine's lines until its output ends; stop it on Cancel."""
    output: list[str] = []
    while True:
        if route.feedback.isCanceled():
            _stop(proc)
            raise QgsProcessingException(f"S2Vec {command} was cancelled; no output was written.")
        try:
            line = lines.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if line is None:
            return output
        route(line)
        if not line.startswith(PROGRESS_PREFIX):
            output.append(line)


def deliver(produced: str, destination: str) -> str:
    """Move a finished engine output file to its destination, replacing it.

    The output is first moved beside the destination under a hidden name (a
    copy when the work folder is on another file system), then renamed into
    place: the destination never holds a partial output.

    Parameters
    ----------
    produced
        Path the engine wrote inside a :func:`.destinations.workspace`.
    destination
        Where the user asked for the output (checked by :func:`.destinations.check_file`).

    Returns
    -------
    str
        ``destination``.
    """
    if not os.path.exists(produced):
        raise QgsProcessingException(
            f"The S2Vec engine reported success but wrote no output for {destination}; "
            "please report this as a bug."
        )
    parent = os.path.dirname(os.path.abspath(destination))
    os.makedirs(parent, exist_ok=True)
    staged = os.path.join(parent, staging_name(destination))
    try:
        shutil.move(produced, staged)  # a copy when the work folder is on another disk
        os.replace(staged, destination)
    finally:
        remove(staged)
    return destination
