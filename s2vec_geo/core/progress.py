"""Progress reporting for long work: a bar where one can be drawn, plain lines elsewhere.

Where progress goes depends on where the output goes, unless the environment
variable ``S2VEC_PROGRESS`` says otherwise:

- in a Jupyter notebook: tqdm's notebook widget when ``ipywidgets`` is
  installed, else tqdm's text bar (never the "IProgress not found" warning);
- in a terminal: tqdm's bar on standard error;
- anywhere else (a log file, a pipe, a service): one plain line per tenth of
  the work, ``train: 40% (480/1200) 12 s``, with no carriage returns.

``S2VEC_PROGRESS=bar`` forces the bar, ``log`` the plain lines, ``off`` turns
progress off, and ``lines`` prints machine-readable
``s2vec-progress: <percent> <description>`` lines: the QGIS plugin runs the
engine out of process and reads them to move the Processing dialog's bar.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

PROGRESS_ENV = "S2VEC_PROGRESS"
PROGRESS_PREFIX = "s2vec-progress:"
MODES = ("bar", "log", "lines", "off")
"""The values of ``S2VEC_PROGRESS`` (unset: chosen by where the output goes)."""
LOG_STEP = 10
"""Percent of the work between two plain log lines."""


class _LineBar:
    """A minimal tqdm stand-in that prints a line each time the percentage passes a step.

    ``machine`` lines are ``s2vec-progress: <percent> <desc>`` at every percent
    (for the QGIS plugin); the others are for people, every :data:`LOG_STEP` percent.
    """

    def __init__(
        self, iterable: Iterable | None, total: float | None, desc: str, machine: bool
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc
        self.n = 0.0
        self.step = 1 if machine else LOG_STEP
        self.machine = machine
        self._last = -1
        self._start = time.monotonic()

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            return
        for item in self.iterable:
            yield item
            self.update(1)

    def update(self, n: float = 1) -> None:
        self.n += n
        if not self.total:
            return
        pct = int(100 * min(self.n / self.total, 1.0))
        if pct // self.step == self._last // self.step and self._last >= 0:
            return
        self._last = pct
        if self.machine:
            line = f"{PROGRESS_PREFIX} {pct} {self.desc}"
        else:
            elapsed = time.monotonic() - self._start
            line = f"{self.desc or 'progress'}: {pct}% ({self.n:g}/{self.total:g}) {elapsed:.0f} s"
        print(line, file=sys.stderr, flush=True)

    def set_postfix_str(self, s: str) -> None:
        """Accepted for tqdm compatibility; lines carry percentages only."""

    def close(self) -> None:
        """Accepted for tqdm compatibility."""

    def __enter__(self) -> _LineBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's ZMQ shell).

    Examples
    --------
    >>> in_notebook()
    False
    """
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return get is not None and type(get()).__name__ == "ZMQInteractiveShell"


def progress_mode() -> str:
    """Where progress goes now: one of :data:`MODES` (see the module docs).

    Examples
    --------
    >>> import os
    >>> os.environ["S2VEC_PROGRESS"] = "lines"
    >>> progress_mode()
    'lines'
    >>> del os.environ["S2VEC_PROGRESS"]
    """
    wanted = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if wanted in MODES:
        return wanted
    if in_notebook():
        return "bar"
    stream = sys.stderr
    return "bar" if stream is not None and stream.isatty() else "log"


def _tqdm(**kw: Any) -> Any:
    """tqdm's notebook widget in Jupyter when ipywidgets is there, else its text bar."""
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401 - the widget needs it; without, tqdm warns
        except ImportError:
            pass
        else:
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm(**kw)
    from tqdm.std import tqdm

    return tqdm(**kw)


def progress(
    iterable: Iterable[T] | None = None,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
) -> Any:
    """Return a progress bar over ``iterable`` (or a manual one with ``total``).

    A tqdm bar (in a terminal or a notebook) or plain lines (elsewhere), as
    the module docs say; both have ``update``, ``n``, ``set_postfix_str`` and
    ``close``.

    Parameters
    ----------
    iterable
        Items to iterate; ``None`` for a bar advanced with ``update``.
    total
        Expected number of steps.
    desc
        Short description shown before the bar.
    unit
        Unit name shown by tqdm.
    disable
        Turn the bar off (e.g. ``verbose=False``).

    Examples
    --------
    >>> sum(progress(range(3), desc="demo", disable=True))
    3
    """
    mode = "off" if disable else progress_mode()
    if mode in ("lines", "log"):
        return _LineBar(iterable, total, desc, machine=mode == "lines")
    return _tqdm(
        iterable=iterable, total=total, desc=desc, unit=unit, disable=mode == "off", leave=False
    )
