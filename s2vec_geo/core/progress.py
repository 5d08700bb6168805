"""Progress reporting for long work: tqdm bars for people, plain lines for programs.

Set the environment variable ``S2VEC_PROGRESS=lines`` and every bar instead
prints ``s2vec-progress: <percent> <description>`` lines to standard error.
The QGIS plugin runs the engine out of process and reads these lines to move
the Processing dialog's progress bar.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

PROGRESS_ENV = "S2VEC_PROGRESS"
PROGRESS_PREFIX = "s2vec-progress:"


class _LineBar:
    """A minimal tqdm stand-in that writes machine-readable percent lines."""

    def __init__(self, iterable: Iterable | None, total: float | None, desc: str) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc
        self.n = 0.0
        self._last = -1

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
        if pct != self._last:
            self._last = pct
            print(f"{PROGRESS_PREFIX} {pct} {self.desc}", file=sys.stderr, flush=True)

    def set_postfix_str(self, s: str) -> None:
        """Accepted for tqdm compatibility; lines mode prints percentages only."""

    def close(self) -> None:
        """Accepted for tqdm compatibility."""

    def __enter__(self) -> _LineBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    iterable: Iterable[T] | None = None,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
) -> tqdm | _LineBar:
    """Return a progress bar over ``iterable`` (or a manual one with ``total``).

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
    if os.environ.get(PROGRESS_ENV) == "lines" and not disable:
        return _LineBar(iterable, total, desc)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=False)
