"""The Dask cluster a partitioned replay runs on (ADR 55): a local one of N worker processes,
or an existing one reached at a scheduler's address. Nothing of our own starts processes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from domain.errors import LedgerError

#: How long to wait for a scheduler to answer before giving up (seconds).
CONNECT_TIMEOUT = 10
#: Parts per worker thread: a finer progress bar and a better balance, at little cost.
PARTS_PER_THREAD = 4


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


@contextmanager
def executor(workers: int | None, address: str | None) -> Iterator[Any]:
    """A `concurrent.futures` executor on Dask for work split by region (ADR 56): the
    scheduler at `address`, else a local cluster of `workers` processes; None when neither is
    asked for (the work then runs in this process). Every worker imports the ledger before its
    first task."""
    if workers is None and address is None:
        yield None
        return
    with dask_client(workers, address) as client:
        client.run(_ready)
        yield client.get_executor()


def _ready() -> None:
    import adapters.composition  # noqa: F401
    import adapters.usecases.audit  # noqa: F401
