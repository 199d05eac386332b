"""A batch's persons loaded in one query are the very aggregates the repository rebuilds."""

from __future__ import annotations

import json

from adapters.application.replay import read_log
from adapters.composition import open_ledger
from adapters.generator import generate_county


def test_aggregates_read_together_equal_those_the_repository_rebuilds_one_by_one(
        store_url: str, book) -> None:
    ledger = open_ledger(store_url, book)
    lines = [json.dumps(c) for c in generate_county(25, "fuyang-2021", 4, book)]
    results = list(ledger.execute_lines(lines, batch_size=50))
    assert sum(r["status"] == "ok" for r in results) > len(results) // 2
    log = list(read_log(ledger.app))
    assert len(log) == ledger.app.recorder.max_notification_id() > 500
    ids = list({le.event.originator_id for le in log})
    loaded = ledger.app.aggregates(ids)
    assert len(loaded) == len(ids) > 50
    for aggregate_id in ids:
        assert vars(loaded[aggregate_id]) == vars(ledger.app.repository.get(aggregate_id))
    ledger.app.close()


def test_a_batch_decides_alike_with_a_cold_cache_and_a_warm_one(store_url: str, book) -> None:
    lines = [json.dumps(c) for c in generate_county(25, "fuyang-2021", 5, book)]
    setup, rest = lines[: len(lines) // 2], lines[len(lines) // 2:]
    warm = open_ledger(store_url, book)
    list(warm.execute_lines(setup))
    cold = open_ledger(store_url, book)  # nothing cached: every read goes to the store
    results = list(cold.execute_lines(rest, batch_size=200))
    assert sum(r["status"] == "ok" for r in results) > len(rest) // 2
    for ledger in (warm, cold):
        ledger.app.close()


def test_an_ingest_collecting_once_per_batch_decides_alike_and_gives_the_collector_back(
        new_store, book) -> None:
    import gc

    lines = [json.dumps(c) for c in generate_county(20, "fuyang-2021", 6, book)]
    plain, frozen = open_ledger(new_store("plain"), book), open_ledger(new_store("frozen"), book)
    assert list(plain.execute_lines(lines, batch_size=40)) == list(
        frozen.execute_lines(lines, batch_size=40, freeze_gc=True))
    assert gc.isenabled() and gc.get_freeze_count() == 0  # as it was before (ADR 112)
    for ledger in (plain, frozen):
        ledger.app.close()
