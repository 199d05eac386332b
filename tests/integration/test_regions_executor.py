"""The executor region tasks run on (ADRs 56, 122): every call runs, even one with the same
arguments as another still pending, and a worker process gives each task one thread for its
columnar store, while a cluster of threads in the caller's own process leaves the caller's
settings alone."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from distributed import Client, LocalCluster

from adapters import composition
from adapters.parallel.cluster import regions_executor


def _noted(path: str) -> int:
    with open(path, "a", encoding="utf-8") as f:
        f.write("ran\n")
    return 1


def _duckdb_threads(folder: str) -> int:
    Path(folder).mkdir(exist_ok=True)
    store = composition.open_columnar(SimpleNamespace(name="ledger"),
                                      f"sqlite:///{folder}/region.db")
    try:
        return int(store.con.execute("SELECT current_setting('threads')").fetchone()[0])
    finally:
        store.close()


@pytest.fixture(scope="module")
def worker_processes():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield regions_executor(client)


def test_two_calls_with_the_same_arguments_both_run(worker_processes, tmp_path: Path) -> None:
    path = str(tmp_path / "calls.txt")
    first = worker_processes.submit(_noted, path)
    second = worker_processes.submit(_noted, path)  # the first still held: no shared result
    assert first.result() + second.result() == 2
    assert Path(path).read_text().splitlines() == ["ran", "ran"]


def test_a_worker_process_opens_a_columnar_store_with_one_thread(worker_processes,
                                                                  tmp_path: Path) -> None:
    assert worker_processes.submit(_duckdb_threads, str(tmp_path)).result() == 1


def test_a_cluster_of_threads_in_this_process_keeps_its_columnar_threads(tmp_path: Path
                                                                         ) -> None:
    here = _duckdb_threads(str(tmp_path / "here"))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        executor = regions_executor(client)
        assert executor.submit(_duckdb_threads, str(tmp_path / "there")).result() == here
    assert _duckdb_threads(str(tmp_path / "after")) == here
