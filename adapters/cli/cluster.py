"""`--workers N` and `--scheduler ADDRESS`: where a replay's parts run (ADR 55)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adapters import composition
from adapters.cli.common import fail, progress_bar
from adapters.stores.urls import StoreError


def partitioned(workers: int | None, scheduler: str | None) -> bool:
    """Whether the flags (or DASK_SCHEDULER_ADDRESS) ask for a partitioned run on Dask."""
    if workers is not None and scheduler is not None:
        fail("invalid_input: --workers starts a local cluster and --scheduler uses an "
             "existing one; give one of them", 2)
    return workers is not None or composition.scheduler_address(scheduler) is not None


@contextmanager
def replay_cluster(workers: int | None, scheduler: str | None, wanted: bool = True
                   ) -> Iterator[Any]:
    """A Dask client for the flags (None: run in this process, unpartitioned, and always when
    not `wanted`). An unreachable scheduler or a cluster that cannot start exits 2 with its
    reason."""
    from adapters.parallel.cluster import ClusterUnavailable, dask_client

    if not wanted or not partitioned(workers, scheduler):
        yield None
        return
    address = None if workers is not None else composition.scheduler_address(scheduler)
    try:
        with dask_client(workers, address) as client:
            yield client
    except ClusterUnavailable as e:
        fail(f"{e.reason}: {e}", 2)


def source_for(db_url: str, policies: Path | None, book: Any) -> Any:
    """The store's source for the workers; a store they cannot open exits 2."""
    try:
        return composition.store_source(db_url, policies, book)
    except StoreError as e:
        fail(f"partitions_unavailable: {e}", 2)


@contextmanager
def parts_progress(title: str, client: Any) -> Iterator[Callable[[int, int], None] | None]:
    """One progress bar across the workers, advanced as their parts complete (None without a
    cluster)."""
    if client is None:
        yield None
        return
    with progress_bar(title) as bar:
        task = bar.add_task(title, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
