"""The local Dask cluster a `--workers N` command starts (ADRs 55, 127): its worker processes
run with glibc's own malloc tuning, not the trim threshold Dask would set for them."""

from __future__ import annotations

import os

import pytest

from adapters.parallel.cluster import dask_client


def _malloc_setting() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_a_local_clusters_workers_start_without_dasks_malloc_trim_threshold(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a cluster started in this process before (by another test) leaves the variable here
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with dask_client(1, None) as client:
        seen = client.run(_malloc_setting)
    assert list(seen.values()) == [None]
    assert _malloc_setting() is None  # nor does starting them set it in this process


def test_a_malloc_setting_of_the_operators_own_reaches_the_workers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    with dask_client(1, None) as client:
        seen = client.run(_malloc_setting)
    assert list(seen.values()) == ["1048576"]
