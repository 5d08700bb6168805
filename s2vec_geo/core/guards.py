"""Size guards: count the cells a request would make before making them.

An S2 level is a choice of scale over 30 orders of magnitude: a city at
level 30 has more cells than there are bytes in any machine, a continent at
level 20 some 10^11. Work that makes cells -- covering an area, cutting roads
at cell edges, a featurized cell layer, the pixels of an image dataset --
first estimates how many, cheaply and without allocating them, and
:func:`check_cells` refuses a request above ``max_cells`` with a message that
gives the estimate, its memory, and the fixes (a coarser level, a smaller
area, Dask with GeoParquet partitions) and the override for people who mean
it: ``max_cells=`` in Python, ``--max-cells`` on the command line (both
default to :data:`DEFAULT_MAX_CELLS`).

A cell count is not a size: a cell layer's row takes a kilobyte, a cut road
piece less, an image pixel a few bytes. So the same estimates are also held
against a *memory budget* (:func:`check_memory`): :data:`DEFAULT_MEMORY_BUDGET`
(2 GiB), or the ``S2VEC_MEMORY_BUDGET`` environment variable (e.g. ``8GB``),
or ``--memory-budget`` on the command line, or :func:`using_budget` in Python
(or a function's ``memory_budget=``; :func:`budget_in_force`). Training and model files are held
against it too (the network's parameters, optimizer state and activations are
estimated from its shape before it is built).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar

from s2vec_geo.core.options import MAX_CELLS, MEMORY_BUDGET, Option, parse_size

log = logging.getLogger(__name__)

DEFAULT_MAX_CELLS: int = MAX_CELLS.default
"""Default limit: the continental-US box at level 12 (3.1 M cells) passes (as a layer of
polygons, about 3 GB, it is over the default memory budget)."""

LAYER_CELL_BYTES = 1000
"""Memory of one row of a cell layer: id, token and polygon (plus 8 bytes a feature column)."""


DEFAULT_MEMORY_BUDGET: int = 2 * 2**30
"""Default memory budget (2 GiB): what a laptop can give one command."""

MEMORY_BUDGET_ENV = "S2VEC_MEMORY_BUDGET"
"""Environment variable that sets the default memory budget, e.g. ``8GB``."""

_BUDGET: ContextVar[int | None] = ContextVar("s2vec_memory_budget", default=None)


ON_DISK = "on disk"
"""``memory_as`` of cells written to disk: not held against the memory budget."""


class TooManyCellsError(ValueError):
    """A request would make more cells than allowed (a :class:`ValueError`, exit status 2)."""


class OverBudgetError(TooManyCellsError):
    """A request would take more memory than the budget (a :class:`ValueError`, exit status 2)."""


def budget_in_force(value: int | str | None = None) -> int:
    """The memory budget in force, in bytes.

    ``value`` when given (bytes, or a size such as ``"8GB"``); else the one
    set by :func:`using_budget`; else ``S2VEC_MEMORY_BUDGET``; else
    :data:`DEFAULT_MEMORY_BUDGET`.

    Examples
    --------
    >>> budget_in_force("8GB") // 2**30, budget_in_force() >= 1
    (8, True)
    """
    if value is None:
        value = _BUDGET.get()
    if value is None:
        value = os.environ.get(MEMORY_BUDGET_ENV) or DEFAULT_MEMORY_BUDGET
        where = MEMORY_BUDGET_ENV
    else:
        where = MEMORY_BUDGET.name
    try:
        return parse_size(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


@contextlib.contextmanager
def using_budget(value: int | str | None) -> Iterator[int]:
    """Hold the size guards inside the block to a memory budget (``None``: the one in force).

    Examples
    --------
    >>> with using_budget("1GB") as budget:
    ...     budget_in_force() == budget == 2**30
    True
    """
    token = _BUDGET.set(_BUDGET.get() if value is None else budget_in_force(value))
    try:
        yield budget_in_force()
    finally:
        _BUDGET.reset(token)


def check_memory(
    n_bytes: float, what: str, *, fix: str, memory_budget: int | str | None = None
) -> None:
    """Refuse, before allocating, work estimated to take more than the memory budget.

    Parameters
    ----------
    n_bytes
        The estimate.
    what
        What takes the memory, e.g. ``"training a network of 120 M parameters"``.
    fix
        How to ask for less, e.g. ``"a smaller --batch-size"``.
    memory_budget
        The budget; ``None``: the one in force (:func:`budget_in_force`).

    Raises
    ------
    OverBudgetError
        Over the budget; the message gives the estimate, the budget and the fixes.

    Examples
    --------
    >>> check_memory(2**20, "a small thing", fix="less")
    >>> check_memory(3 * 2**30, "covering the area", fix="a coarser level", memory_budget="2GB")
    ... # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    s2vec_geo.core.guards.OverBudgetError: covering the area would take about 3.0 GiB of
    memory, over the memory budget of 2.0 GiB: ask for less (a coarser level), or raise the
    budget with --memory-budget SIZE (Python: memory_budget=..., or S2VEC_MEMORY_BUDGET=SIZE)
    if the machine has the memory
    """
    budget = budget_in_force(memory_budget)
    if n_bytes <= budget:
        return
    raise OverBudgetError(
        f"{what} would take about {format_bytes(n_bytes)} of memory, over the memory budget "
        f"of {format_bytes(budget)}: ask for less ({fix}), or raise the budget with "
        f"--memory-budget SIZE (Python: memory_budget=..., or {MEMORY_BUDGET_ENV}=SIZE) if "
        "the machine has the memory"
    )


def limit(max_cells: int | None) -> int:
    """The cell limit in force: ``max_cells``, or :data:`DEFAULT_MAX_CELLS` for ``None``.

    Examples
    --------
    >>> limit(None) == DEFAULT_MAX_CELLS, limit(10)
    (True, 10)
    """
    if max_cells is None:
        return DEFAULT_MAX_CELLS
    if not isinstance(max_cells, int):
        raise ValueError(f"max_cells must be a positive integer, got {max_cells!r}")
    return MAX_CELLS.check(max_cells)


def format_bytes(n: float) -> str:
    """Bytes for people.

    Examples
    --------
    >>> format_bytes(5.75e12), format_bytes(900)
    ('5.2 TiB', '900 B')
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def coarser_level(n_cells: float, level: int, max_cells: int, per_level: float = 4.0) -> int:
    """The finest level below ``level`` whose cell count fits ``max_cells``.

    Cells of an area multiply by 4 a level (``per_level=4``), cells along a
    line by 2. Returns -1 when even level 0 is too many.

    Examples
    --------
    >>> coarser_level(80e6, 14, 5_000_000)
    12
    """
    for finer_by in range(1, level + 1):
        if n_cells / per_level**finer_by <= max_cells:
            return level - finer_by
    return -1


def check_cells(
    n_cells: float,
    what: str,
    *,
    bytes_per_cell: float,
    max_cells: int | None = None,
    level: int | None = None,
    per_level: float = 4.0,
    fix: str | None = None,
    memory_as: str = "in memory",
    memory_budget: int | str | None = None,
) -> None:
    """Refuse, before allocating, a request estimated to make more than ``max_cells`` cells.

    Cells held in memory (``memory_as`` not ``"on disk"``) are also held
    against the memory budget (:func:`check_memory`).

    Parameters
    ----------
    n_cells
        The estimate (or the exact count).
    what
        What makes the cells, e.g. ``"covering the area at level 20"``.
    bytes_per_cell
        Memory (or disk) one cell takes, for the message.
    max_cells
        The limit; ``None``: :data:`DEFAULT_MAX_CELLS`.
    level, per_level
        The S2 level asked for and how the count grows a level (4 for an
        area, 2 along lines): the message then names the level that fits.
    fix
        How to ask for less; default: the level that fits, or a smaller area.
    memory_as
        What the size in the message is, e.g. ``"as a cell layer"``.
    memory_budget
        The memory budget; ``None``: the one in force (:func:`budget_in_force`).

    Raises
    ------
    TooManyCellsError
        Over the limit; the message gives the estimate, its size and the fixes
        (:class:`OverBudgetError` over the memory budget).

    Examples
    --------
    >>> check_cells(10, "covering", bytes_per_cell=100)
    >>> import textwrap
    >>> try:
    ...     check_cells(3e11, "covering the area at level 20", bytes_per_cell=800, level=20)
    ... except TooManyCellsError as exc:
    ...     print(textwrap.fill(str(exc), 80))
    covering the area at level 20 would make about 300,000,000,000 cells (about
    218.3 TiB in memory), over the limit of 5,000,000: ask for less (level 12 or
    coarser, or a smaller area), or raise the limit with --max-cells N (Python:
    max_cells=N) if you mean it
    """
    allowed = limit(max_cells)
    if n_cells <= allowed:
        if memory_as != ON_DISK:
            fits = int(budget_in_force(memory_budget) // bytes_per_cell)
            check_memory(
                n_cells * bytes_per_cell,
                f"{what}, about {n_cells:,.0f} cells,",
                fix=fix or _smaller(n_cells, level, fits, per_level),
                memory_budget=memory_budget,
            )
        return
    raise TooManyCellsError(
        f"{what} would make about {n_cells:,.0f} cells (about "
        f"{format_bytes(n_cells * bytes_per_cell)} {memory_as}), over the limit of {allowed:,}: "
        f"ask for less ({fix or _smaller(n_cells, level, allowed, per_level)}), or raise the "
        "limit with --max-cells N (Python: max_cells=N) if you mean it"
    )


def _smaller(n_cells: float, level: int | None, allowed: int, per_level: float) -> str:
    """How to ask for fewer cells: the level that fits, or a smaller area."""
    coarser = -1 if level is None else coarser_level(n_cells, level, allowed, per_level)
    return (f"level {coarser} or coarser, or " if coarser >= 0 else "") + "a smaller area"


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system has one).

    Examples
    --------
    >>> cpu_cores() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def at_most_cores(n: int, option: Option) -> int:
    """``n`` processes or threads, or one a CPU core when ``n`` is more (with a warning).

    More than one a core only compete for the cores (and memory), and a
    huge count can crash the thread pool: ``option`` names the setting in
    the warning.

    Examples
    --------
    >>> from s2vec_geo.core.options import THREADS
    >>> at_most_cores(1, THREADS), at_most_cores(10**9, THREADS) == cpu_cores()
    (1, True)
    """
    cores = cpu_cores()
    if n <= cores:
        return n
    log.warning(
        "%s %d is more than the %d CPU core(s) here; using %d", option.flag, n, cores, cores
    )
    return cores
