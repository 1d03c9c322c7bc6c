"""Mapping reports on a Dask cluster: ``--mode dask-futures`` (``dask`` is an alias).

The cluster is the scheduler named by the caller (the analysis service's setting),
else by ``NSIGHT_LAB_DASK_SCHEDULER``, else a LocalCluster started for the run (one
single-threaded worker process per core, on 127.0.0.1). Tasks carry references to
reports, never their bytes: each worker reads its report itself, from a path it
shares with the client or from storage through presigned URLs, so nothing flows
through the machine that submitted the job. Each result comes back, as soon as its
task finishes, as Arrow IPC streams.

A lost worker: the scheduler first reschedules the tasks it held (up to its
``distributed.scheduler.allowed-failures``; the LocalCluster sets 0, leaving that
to us). A task that still fails, because the scheduler gave up (``KilledWorker``)
or for any other reason, is submitted once more, alone, after the first pass (so a
report that was only in flight beside the one that killed their worker survives);
when that fails too, the report is named in the run's warnings and the others go on.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from nsight_lab.recipe.errors import MissingExtraError, RecipeRunError
from nsight_lab.recipe.mapping import MapOutcome, MapTask, lost, map_task_packed

DASK_ENV = "NSIGHT_LAB_DASK_SCHEDULER"
#: How long to wait for the scheduler to answer before saying it is unreachable.
CONNECT_TIMEOUT_S = 20


def scheduler_address(explicit: str | None = None) -> str | None:
    """The scheduler to use: ``explicit``, else ``$NSIGHT_LAB_DASK_SCHEDULER``, else None."""
    return explicit or os.environ.get(DASK_ENV) or None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtraError(
            "--mode dask-futures needs Dask: pip install 'nsight-lab[dask]' "
            "(or use --mode concurrent)"
        ) from exc
    return distributed


@contextmanager
def dask_client(address: str | None, workers: int) -> Iterator[Any]:
    """A client of the scheduler at ``address``, or of a LocalCluster of ``workers``."""
    distributed = _import_distributed()
    import dask

    if address:
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise RecipeRunError(
                f"cannot reach the Dask scheduler at {address} ({exc}); check {DASK_ENV} "
                "(or the analysis service's NSIGHT_LAB_ANALYSIS_DASK_SCHEDULER)"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=max(1, workers),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def map_on_dask(
    tasks: Sequence[MapTask],
    done: Callable[[MapOutcome], None],
    *,
    scheduler: str | None = None,
    retries: int = 1,
) -> None:
    """Map every task on the cluster, calling ``done`` as each outcome arrives."""
    distributed = _import_distributed()
    address = scheduler_address(scheduler)
    run = uuid.uuid4().hex[:12]
    with dask_client(address, min(len(tasks), os.cpu_count() or 1)) as client:

        def submit(task: MapTask, attempt: int) -> Any:
            key = f"nsight-lab-map-{run}-{task.index}-{attempt}"
            return client.submit(map_task_packed, task, key=key, pure=False)

        def failed(task: MapTask, attempt: int, exc: Exception) -> MapOutcome:
            return lost(
                task,
                f"its Dask worker failed {attempt + 1} times while mapping it "
                f"({type(exc).__name__}: {exc}); the other reports were mapped",
            )

        # A report in flight on a worker that another report killed fails through no
        # fault of its own: retries run after the first pass, one report at a time, so
        # only a report that fails again by itself is named.
        again: list[tuple[MapTask, int]] = []
        pending = {submit(t, 0): (t, 0) for t in tasks}
        for future in distributed.as_completed(list(pending)):
            task, attempt = pending.pop(future)
            try:
                outcome: MapOutcome = future.result()
            except Exception as exc:  # KilledWorker, a lost connection, a task error
                if attempt < retries:
                    again.append((task, attempt + 1))
                    continue
                outcome = failed(task, attempt, exc)
            finally:
                future.release()
            done(outcome.unpacked())
        for task, first in sorted(again, key=lambda pair: pair[0].index):
            for attempt in range(first, retries + 1):
                future = submit(task, attempt)
                try:
                    outcome = future.result()
                    break
                except Exception as exc:
                    outcome = failed(task, attempt, exc)
                finally:
                    future.release()
            done(outcome.unpacked())
