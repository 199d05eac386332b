"""The Dask cluster a partitioned replay runs on (ADR 55): a local one of N worker processes,
or an existing one reached at a scheduler's address. Nothing of our own starts processes."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from domain.errors import LedgerError

#: How long to wait for a scheduler to answer before giving up (seconds).
CONNECT_TIMEOUT = 10
#: Parts per worker thread: a finer progress bar and a better balance, at little cost.
PARTS_PER_THREAD = 4
#: The variable Dask sets in a local worker's environment before it starts, which ours do
#: without (ADR 127): None unsets it.
WORKER_MALLOC_SETTING = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


class ClusterUnavailable(LedgerError):
    """The Dask cluster cannot be reached or started, or failed under the run."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _quiet() -> None:
    """Dask's own log lines (worker start and stop) stay off the command's output."""
    for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                 "distributed.worker", "distributed.core", "distributed.comm"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def dask_client(workers: int | None, address: str | None) -> Iterator[Any]:
    """A Dask client: on the scheduler at `address`, else on a local cluster of `workers`
    processes (one thread each) that ends with the block."""
    _quiet()
    from distributed import Client, LocalCluster

    if address is not None:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise ClusterUnavailable(
                "scheduler_unreachable", f"cannot reach the Dask scheduler at {address} "
                f"within {CONNECT_TIMEOUT} s ({type(e).__name__}: {e})") from None
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    dask.config.set({
        # No statistical profiler on our workers: it holds tasks' frames (and with them a
        # cursor the store library leaves mid-statement) long enough to make SQLite refuse a
        # commit.
        "distributed.worker.profile.enabled": False,
        # glibc's own malloc tuning (ADR 127): Dask's MALLOC_TRIM_THRESHOLD_ also fixes
        # glibc's mmap threshold, so a replay's allocations fault their pages in anew.
        WORKER_MALLOC_SETTING: None,
    })
    try:
        cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    except (OSError, TimeoutError, RuntimeError) as e:
        raise ClusterUnavailable("cluster_unavailable", f"cannot start a local Dask cluster "
                                 f"of {workers} workers ({type(e).__name__}: {e})") from None
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def threads_of(client: Any) -> int:
    """How many tasks the cluster runs at once (its workers' threads)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(w.get("nthreads", 1) for w in workers.values()))


def regions_executor(client: Any) -> Any:
    """A `concurrent.futures` executor on a Dask client for work split by region (ADR 56),
    every worker having imported the ledger and its replays before its first task. The tasks
    read and write stores that change between two calls: none is pure (ADR 122), so Dask
    never hands one call's result to another with the same arguments."""
    client.run(_ready, os.getpid())
    return client.get_executor(pure=False)


def _ready(caller: int) -> None:
    """A worker made ready: the ledger imported; one thread per task unless the worker runs
    in the caller's own process (a cluster of threads), which keeps its own settings."""
    import adapters.composition
    import adapters.usecases.audit  # noqa: F401
    import adapters.usecases.regional_whatif  # noqa: F401
    import adapters.whatif.columnar  # noqa: F401

    if os.getpid() != caller:
        adapters.composition.on_dask_worker()
