"""Torch's CPU threads while training: all of them, a number, or chosen by timing steps.

On an idle machine every core helps a training step; on a machine busy with
other work -- a second process, a notebook's kernel, QGIS -- a thread waits
for a core that is taken: next to one busy process on two cores, training on
two threads ran at about 73 windows/s and on one at about 93
(``benchmarks/bench_train.py``). Load averages lag and cannot tell what a step
will cost, so ``cpu_threads="auto"`` measures: :class:`StepThreads` times a
few steps on each candidate count, keeps the fastest, and measures again
every :data:`PERIOD_SECONDS`, as the machine's other work comes and goes.

The thread count changes the order of torch's floating-point sums, hence
the model's last bits: a run is reproducible bit for bit only at a fixed
count, which is why the default is ``"all"`` (torch's count, which
``OMP_NUM_THREADS`` and :func:`torch.set_num_threads` set) and ``"auto"``
is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections.abc import Iterator

import torch

logger = logging.getLogger(__name__)

TRIAL_STEPS = 3
"""Timed steps per candidate in a trial (after one untimed step to warm up)."""

PERIOD_SECONDS = 60.0
"""How long ``"auto"`` keeps a choice before timing the candidates again."""


def thread_choice(value: str | int) -> str | int:
    """Check a ``cpu_threads`` setting: ``"all"``, ``"auto"`` or a whole number >= 1.

    Returns ``"all"``, ``"auto"`` or the number as an ``int``.

    Examples
    --------
    >>> thread_choice("auto"), thread_choice("2"), thread_choice(1)
    ('auto', 2, 1)
    >>> thread_choice("0")
    Traceback (most recent call last):
    ...
    ValueError: cpu_threads must be all, auto or a whole number >= 1, got '0'
    """
    if value in ("all", "auto"):
        return str(value)
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ValueError(f"cpu_threads must be all, auto or a whole number >= 1, got {value!r}")
    return int(text)


class StepThreads:
    """Torch's intra-op thread count for the steps of one training run.

    Parameters
    ----------
    device
        The training device; on anything but the CPU nothing is changed.
    setting
        ``cpu_threads``: ``"all"`` keeps torch's count, a number fixes it,
        ``"auto"`` times steps on torch's count and on one thread and keeps
        the faster for ``period`` seconds.
    period
        Seconds ``"auto"`` keeps a choice; default :data:`PERIOD_SECONDS`.

    Examples
    --------
    >>> tuner = StepThreads(torch.device("cpu"), "auto")
    >>> for _ in range(2 * (1 + TRIAL_STEPS)):
    ...     with tuner.step():
    ...         _ = torch.ones(8).sum()
    >>> tuner.choice in (1, torch.get_num_threads())
    True
    >>> tuner.close()
    """

    def __init__(
        self, device: torch.device, setting: str | int = "all", period: float | None = None
    ) -> None:
        self.before = torch.get_num_threads()
        setting = thread_choice(setting)
        cpu = device.type == "cpu"
        self.choice = setting if cpu and isinstance(setting, int) else self.before
        auto = cpu and setting == "auto" and self.before > 1
        self.candidates = [self.before, 1] if auto else []
        self.period = PERIOD_SECONDS if period is None else period
        self._plan: list[tuple[int, bool]] = []
        self._times: dict[int, list[float]] = {}
        self._decided = -float("inf")
        torch.set_num_threads(self.choice)

    def _next(self) -> tuple[int, bool]:
        """The thread count for the coming step, and whether to time it."""
        if self.candidates and not self._plan and time.monotonic() - self._decided >= self.period:
            self._times = {n: [] for n in self.candidates}
            for n in self.candidates:  # one untimed step to warm up, then timed ones
                self._plan += [(n, False)] + [(n, True)] * TRIAL_STEPS
        return self._plan.pop(0) if self._plan else (self.choice, False)

    def _decide(self) -> None:
        medians = {n: statistics.median(t) for n, t in self._times.items()}
        best = min(medians, key=lambda n: medians[n])
        if best != self.choice:
            logger.info(
                "training on %d CPU thread(s): %s",
                best,
                ", ".join(f"{1000 * s:.0f} ms a step on {n}" for n, s in medians.items()),
            )
        self.choice = best
        self._decided = time.monotonic()

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Run one training step on the thread count in force, timing it on trial."""
        threads, timed = self._next()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        start = time.perf_counter()
        yield
        if timed:
            self._times[threads].append(time.perf_counter() - start)
            if not self._plan:
                self._decide()

    def close(self) -> None:
        """Give torch back the thread count it had before."""
        torch.set_num_threads(self.before)
