"""The server's writer: commands of concurrent requests decided in arrival order and saved in
groups, each caller answered with its own result after its group committed."""

from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.composition import open_ledger
from adapters.server.writer import GroupWriter
from domain.ids import household_id
from domain.money import Money
from tests.support.builders import HEAD, WIFE, claim, family


def test_concurrent_submissions_are_grouped_and_never_overspend_the_pool(
        store_url: str, book) -> None:
    ledger = open_ledger(store_url, book)
    writer = GroupWriter(ledger)
    try:
        assert all(writer.submit(c)["status"] == "ok" for c in family())
        sends = [claim(f"G-{i:03d}", HEAD if i % 2 else WIFE, "30.00") for i in range(120)]
        with ThreadPoolExecutor(24) as pool:
            results = list(pool.map(writer.submit, sends))
    finally:
        writer.close()
    assert all(r["status"] == "ok" for r in results)
    assert writer.groups < writer.commands  # at least one group held several commands
    household = ledger.app.repository.get(household_id(HEAD, 2021))
    assert household.used() == Money.parse("500.00")  # 2 x 250, never more
    by_id = {c["claim_id"]: r for c, r in zip(sends, results, strict=True)}
    for claim_id, settled in household.claims.items():
        assert by_id[claim_id]["reimbursed"] == str(settled.reimbursed)


def test_a_failing_check_keeps_its_command_out_and_the_others_in(store_url: str,
                                                                  book) -> None:
    ledger = open_ledger(store_url, book)
    writer = GroupWriter(ledger)

    def refuse() -> None:
        raise PermissionError("outside the token's region")

    try:
        assert writer.submit(family()[0])["status"] == "ok"
        with pytest.raises(PermissionError):
            writer.submit(family()[1], refuse)
        assert writer.submit(family()[1])["status"] == "ok"
    finally:
        writer.close()


def test_every_caller_of_a_group_hears_when_the_store_refuses_the_write(
        store_url: str, book, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = open_ledger(store_url, book)
    writer = GroupWriter(ledger)
    gate = threading.Event()

    def broken(commands):
        gate.wait(5)
        raise OSError("disk full")

    monkeypatch.setattr(ledger, "execute_many", broken)
    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(writer.submit, c) for c in family()[:4]]
            gate.set()
            for future in futures:
                with pytest.raises(OSError):
                    future.result(timeout=10)
    finally:
        writer.close()
    assert ledger.app.recorder.max_notification_id() in (None, 0)


def test_a_long_running_writer_keeps_its_long_lived_objects_out_of_full_collections(
        store_url: str, book) -> None:
    gc.unfreeze()
    ledger = open_ledger(store_url, book)
    writer = GroupWriter(ledger, freeze_every=3)
    try:
        for command in family():
            assert writer.submit(command)["status"] == "ok"
        assert gc.get_freeze_count() > 0  # family() sends more than three commands
        # the ledger, alive before the first freeze, is no longer scanned by the collector
        assert not any(o is ledger for o in gc.get_objects())
    finally:
        writer.close()
        gc.unfreeze()  # give this test process's objects back to the collector


def test_a_writer_without_a_freeze_interval_leaves_the_collector_alone(store_url: str,
                                                                       book) -> None:
    gc.unfreeze()
    ledger = open_ledger(store_url, book)
    writer = GroupWriter(ledger)
    try:
        for command in family():
            assert writer.submit(command)["status"] == "ok"
        assert gc.get_freeze_count() == 0
    finally:
        writer.close()
