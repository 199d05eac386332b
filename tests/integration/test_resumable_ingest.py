"""A command file ingested again after any stop leaves the ledger exactly as one clean run
(ADR 45), on SQLite and on PostgreSQL: the journal of each batch is committed with the batch,
the lines already applied are answered from it, only the rest are applied."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from adapters.application.ingest_run import OPERATIONAL
from adapters.application.replay import read_log
from adapters.composition import open_ledger
from adapters.generator import generate_county
from adapters.stores.locks import held
from adapters.usecases.ingest import IngestBusy, IngestStopped, ingest_file
from domain.policy_book import PolicyBook
from tests.support.builders import HEAD, family


def county_file(folder: Path, book: PolicyBook, households: int = 60) -> Path:
    path = folder / "county.jsonl"
    lines = [json.dumps(c, ensure_ascii=False) for c in generate_county(households, "fuyang-2021",
                                                                       5, book)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ingest(url: str, book: PolicyBook, path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    ledger = open_ledger(url, book)
    sink = io.StringIO()
    try:
        ingest_file(ledger, path, sink, **kwargs)
    finally:
        ledger.app.close()
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def facts(url: str, book: PolicyBook) -> list[tuple]:
    """Every event of the ledger but the journals', without the time it was recorded."""
    ledger = open_ledger(url, book)
    try:
        return [(type(le.event).__qualname__, le.event.originator_id,
                 le.event.originator_version,
                 sorted((k, repr(v)) for k, v in vars(le.event).items() if k != "timestamp"))
                for le in read_log(ledger.app) if not isinstance(le.event, OPERATIONAL)]
    finally:
        ledger.app.close()


def answered_again(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Results as a re-run answers them from the journal."""
    return [{**r, "duplicate": True} for r in results]


class StopAfter:
    """A progress callback that interrupts the ingest after `batches` batches."""

    def __init__(self, batches: int) -> None:
        self.left = batches

    def __call__(self, _: int) -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


def test_the_same_file_again_answers_every_line_from_its_journal_and_records_nothing(
        new_store, book: PolicyBook, tmp_path: Path) -> None:
    path = county_file(tmp_path, book)
    url = new_store("ledger")
    first = ingest(url, book, path, batch_size=200)
    before = facts(url, book)
    again = ingest(url, book, path, batch_size=200)
    assert facts(url, book) == before
    assert again == answered_again(first)


def test_an_interrupted_ingest_says_where_it_stopped_and_the_rerun_ends_as_one_clean_run(
        new_store, book: PolicyBook, tmp_path: Path) -> None:
    path = county_file(tmp_path, book)
    clean_url, url = new_store("clean"), new_store("stopped")
    clean = ingest(clean_url, book, path, batch_size=150)
    with pytest.raises(IngestStopped) as stopped:
        ingest(url, book, path, batch_size=150, progress=StopAfter(2))
    assert stopped.value.kind == "interrupted"
    assert stopped.value.last_line == 300
    assert "interrupted after line 300: run the same command again" in stopped.value.message
    rerun = ingest(url, book, path, batch_size=150)
    assert rerun == answered_again(clean[:300]) + clean[300:]
    assert facts(url, book) == facts(clean_url, book)


def test_a_store_failing_under_the_ingest_names_the_last_committed_line_and_a_rerun_continues(
        new_store, book: PolicyBook, tmp_path: Path) -> None:
    path = county_file(tmp_path, book)
    clean_url, url = new_store("clean"), new_store("failing")
    clean = ingest(clean_url, book, path, batch_size=100)
    ledger = open_ledger(url, book)
    put, calls = ledger.app.events.put, []

    def failing_put(events: list[Any], **kwargs: Any) -> Any:
        calls.append(len(events))
        if len(calls) == 4:
            raise sqlite3.OperationalError("database or disk is full")
        return put(events, **kwargs)

    ledger.app.events.put = failing_put
    with pytest.raises(IngestStopped) as stopped:
        ingest_file(ledger, path, io.StringIO(), batch_size=100)
    ledger.app.close()
    assert stopped.value.kind == "store_failed" and stopped.value.last_line == 300
    assert "after line 300 was committed (OperationalError: database or disk is full)" in \
        stopped.value.message
    rerun = ingest(url, book, path, batch_size=100)
    assert rerun == answered_again(clean[:300]) + clean[300:]
    assert facts(url, book) == facts(clean_url, book)


def test_a_refund_with_an_amount_in_a_file_ingested_three_times_is_refunded_once(
        new_store, book: PolicyBook, tmp_path: Path) -> None:
    path = tmp_path / "refund.jsonl"
    refund = {"op": "refund", "person": HEAD, "year": 2021, "reason": "duplicate_payment",
              "amount": "10.00", "at": "2020-11-01"}
    overpaid = {**family()[3], "amount": "300.00"}
    commands = [*family()[:3], overpaid, *family()[4:], refund]
    path.write_text("\n".join(json.dumps(c) for c in commands) + "\n", encoding="utf-8")
    url = new_store("ledger")
    runs = [ingest(url, book, path) for _ in range(3)]
    assert runs[0][-1]["refunded"] == "10.00"
    assert runs[2] == answered_again(runs[0])
    ledger = open_ledger(url, book)
    person = ledger.app.repository.get(ledger.app.ids.person(HEAD))
    assert str(person.year(2021).refunded) == "10.00"
    ledger.app.close()


def test_another_file_is_never_taken_for_one_already_ingested(
        new_store, book: PolicyBook, tmp_path: Path) -> None:
    path = county_file(tmp_path, book, households=10)
    url = new_store("ledger")
    first = ingest(url, book, path)
    longer = tmp_path / "longer.jsonl"
    extra = {"op": "register", "person": "DOC-1", "id_type": "other", "name": "新",
             "region": "341225", "birth_date": "1990-01-01", "at": "2020-09-01"}
    longer.write_text(path.read_text(encoding="utf-8") + json.dumps(extra) + "\n",
                      encoding="utf-8")
    second = ingest(url, book, longer)
    # decided again (the register lines are refused as already registered), not answered
    assert [r["reason"] for r in second if r["op"] == "register"][:3] == \
        ["already_registered"] * 3
    assert second[-1]["status"] == "ok" and len(second) == len(first) + 1


def test_a_second_ingest_of_a_file_being_ingested_is_refused_with_a_clear_message(
        new_store, book: PolicyBook, tmp_path: Path) -> None:
    path = county_file(tmp_path, book, households=5)
    url = new_store("ledger")
    holder = open_ledger(url, book)
    from adapters.application.ingest_run import file_digest

    with held(holder.app, f"ingest-{file_digest(path)[:16]}"):
        with pytest.raises(IngestBusy, match="another process is ingesting county.jsonl"):
            ingest(url, book, path)
    holder.app.close()
    assert ingest(url, book, path)  # once the other has finished, it runs


def test_a_lost_postgresql_connection_stops_the_ingest_cleanly_and_a_rerun_continues(
        book: PolicyBook, tmp_path: Path) -> None:
    import psycopg

    from tests.support.stores import POSTGRES, stores

    with stores("postgresql", tmp_path) as made:
        _lose_connections_mid_ingest(made.new("clean"), made.new("lost"), book, tmp_path,
                                     psycopg, POSTGRES)


def _lose_connections_mid_ingest(clean_url: str, url: str, book: PolicyBook, tmp_path: Path,
                                 psycopg: Any, postgres: str) -> None:
    path = county_file(tmp_path, book)
    clean = ingest(clean_url, book, path, batch_size=100)
    ledger = open_ledger(url, book)
    batches = [0]

    def lose_the_connections(_: int) -> None:  # as a restarted server would
        batches[0] += 1
        if batches[0] != 2:
            return
        idle = ledger.app.factory.datastore.pool._pool  # the ledger's idle connections
        pids = [c.info.backend_pid for c in idle]
        with psycopg.connect(postgres, autocommit=True) as admin:
            pids += [r[0] for r in admin.execute(  # and the one holding the ingest's lock
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")]
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid",
                          (pids,))

    try:
        with pytest.raises(IngestStopped) as stopped:
            ingest_file(ledger, path, io.StringIO(), batch_size=100,
                        progress=lose_the_connections)
    finally:
        ledger.app.close()
    assert stopped.value.kind == "store_failed" and stopped.value.last_line == 200
    rerun = ingest(url, book, path, batch_size=100)
    assert rerun == answered_again(clean[:200]) + clean[200:]
    assert facts(url, book) == facts(clean_url, book)
