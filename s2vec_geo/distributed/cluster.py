"""Where Dask runs: the client, tasks with a progress bar, scratch folders, phase timings.

Dask runs where the caller says: ``scheduler="tcp://HOST:8786"`` (any Dask
cluster), ``workers=N`` (a local cluster of N single-threaded processes), the
Dask client already active in the session, or else a new local cluster.
``scheduler="synchronous"`` runs the same tasks one after another in this
process, with no cluster: for debugging, and as the single-process reference
that measures what Dask itself costs.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed

from s2vec_geo.core.gcpause import gc_paused
from s2vec_geo.core.guards import at_most_cores, cpu_cores
from s2vec_geo.core.options import WORKERS
from s2vec_geo.core.progress import progress

log = logging.getLogger(__name__)

SYNCHRONOUS = "synchronous"
"""``scheduler`` value that runs every task in this process, one after another."""

SATURATION = 1.0
"""Root tasks (inputs to read) a worker holds per thread. Dask's default, 1.1,
rounds up to 2 for single-threaded workers: a second input frame (~0.4 GB per
million features) would wait in memory while the first is counted."""


class PauseGC(WorkerPlugin):
    """Pause a worker's cyclic garbage collector while it runs tasks.

    Tasks here make millions of geometries at once (decoding GeoParquet,
    cell polygons): with the collector on, its full collections walk every
    object alive again and again, and decoding an input takes 3-4x as long
    (see :mod:`s2vec_geo.core.gcpause`). Between tasks it runs as usual, so
    garbage a task leaves in reference cycles is collected after it.
    """

    name = "s2vec-pause-gc"

    def __init__(self) -> None:
        self.executing = 0

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        """Count the tasks executing; the collector runs only when none is."""
        self.executing += (finish == "executing") - (start == "executing")
        if self.executing > 0:
            gc.disable()
        else:
            gc.enable()


@contextlib.contextmanager
def dask_client(
    workers: int | None = None, scheduler: str | None = None
) -> Iterator[Client | None]:
    """The Dask client to run on; clusters it starts are closed on exit.

    Parameters
    ----------
    workers
        Start a local cluster of this many single-threaded worker processes.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``), or
        ``"synchronous"``: no client (``None``), :func:`run_tasks` then runs
        the tasks in this process.

    With neither, the client already active in this session is used, or a
    local cluster with one worker per CPU core is started; more workers than
    cores are capped at the core count (:func:`local_workers`). Local clusters
    started here give each worker one input at a time
    (``distributed.scheduler.worker-saturation`` = :data:`SATURATION`); set
    the same on the scheduler of a cluster of your own. Their workers run
    the S2 kernels on one thread (``NUMBA_NUM_THREADS=1``: a worker a core)
    and pause the cyclic garbage collector while they run a task
    (:class:`PauseGC`).

    Examples
    --------
    >>> with dask_client(workers=1) as client:  # doctest: +SKIP
    ...     client.submit(sum, [1, 2]).result()
    3
    """
    if workers is not None and scheduler is not None:
        raise ValueError(
            "give either workers (a local cluster) or scheduler (an existing cluster), not both"
        )
    if workers is not None and (not isinstance(workers, int) or workers < WORKERS.min):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if scheduler == SYNCHRONOUS:
        yield None
        return
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise ValueError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); check the address "
                "(tcp://HOST:8786) and that `dask scheduler` runs there"
            ) from exc
        with client:
            yield client
        return
    if workers is None:
        with contextlib.suppress(ValueError):
            yield Client.current()
            return
    n = local_workers(workers)
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": SATURATION}),
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"NUMBA_NUM_THREADS": "1"},  # one core a worker: its S2 kernels too
        ) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(PauseGC())
        yield client


def local_workers(workers: int | None) -> int:
    """Worker processes of a local cluster: ``workers``, at most one a CPU core.

    ``None`` gives one a core. More single-threaded workers than cores only
    compete for them (and for memory: Dask splits it between the workers),
    so they are capped at the core count with a warning (:func:`at_most_cores`).

    Examples
    --------
    >>> local_workers(1), local_workers(None) == cpu_cores() == local_workers(10_000)
    (1, True)
    """
    return cpu_cores() if workers is None else at_most_cores(workers, WORKERS)


def run_tasks(client: Client | None, tasks: Sequence[Any], desc: str) -> list[Any]:
    """Compute delayed ``tasks`` on ``client`` with a progress bar; results in order.

    Without a client (``scheduler="synchronous"``) each task is computed in
    this process in turn, the cyclic garbage collector paused as in the
    workers of the local clusters (:class:`PauseGC`).

    Examples
    --------
    >>> run_tasks(None, [dask.delayed(sum)([1, 2])], "adding")
    [3]
    """
    if client is None:
        results = []
        for task in progress(tasks, desc=desc, unit="part", disable=len(tasks) < 2):
            with gc_paused():
                results.append(task.compute(scheduler="sync"))
        return results
    futures = client.compute(list(tasks))
    position = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    for future in progress(as_completed(futures), total=len(futures), desc=desc, unit="part"):
        results[position[future.key]] = future.result()
    return results


def log_phase(phase: str, start: float, what: str) -> None:
    """Log a phase's wall time (also as the record's ``phase`` and ``seconds``)."""
    seconds = time.perf_counter() - start
    log.info("%s: %s in %.1f s", phase, what, seconds, extra={"phase": phase, "seconds": seconds})


@contextlib.contextmanager
def scratch_folder(prefix: str, parent: str | os.PathLike | None) -> Iterator[Path]:
    """A new folder (in ``parent``, default the system temp folder), removed on exit.

    Examples
    --------
    >>> with scratch_folder(".s2vec-test-", None) as folder:
    ...     folder.is_dir()
    True
    >>> folder.exists()
    False
    """
    if parent is not None and not Path(parent).is_dir():
        raise FileNotFoundError(
            f"scratch folder {str(parent)!r} (for partial counts between map and reduce) "
            "does not exist; create it first"
        )
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
