"""What only a PostgreSQL store has: schemas, a server that may be away, several processes
creating one store's tables at once."""

from __future__ import annotations

import gc
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from adapters.composition import open_ledger, open_views
from adapters.stores.chain import verify_chain
from adapters.stores.urls import quoted
from domain.policy_book import PolicyBook
from projections import queries
from projections.views import catch_up
from tests.support.builders import HEAD, family
from tests.support.cli import run_cli
from tests.support.stores import POSTGRES, Stores, raw_store, stores

KEY = b"county audit key, kept by the fund office"


@pytest.fixture
def pg(tmp_path: Path) -> Stores:
    with stores("postgresql", tmp_path) as made:
        yield made


def tables_in(schema: str) -> set[str]:
    with psycopg.connect(POSTGRES) as conn:
        return {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))}


def test_a_missing_schema_is_created_and_holds_the_events_the_chain_and_the_views(
        pg: Stores, book: PolicyBook) -> None:
    schema = f"funan_2021_{os.getpid()}"
    pg.schemas.append(schema)  # dropped after the test
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {quoted(schema)} CASCADE")
    url = f"{POSTGRES}?schema={schema}"
    ledger = open_ledger(url, book, audit_key=KEY)
    for command in family():
        assert ledger.execute(command)["status"] == "ok"
    views = open_views(ledger.app, ledger.policies, url)
    try:
        answer = queries.household(views.engine, HEAD, 2021,
                                   refresh=lambda: catch_up(ledger.app, views))
        assert answer["covered_members"] == [HEAD, family()[1]["person"]]
        assert verify_chain(ledger.app, KEY).ok
    finally:
        views.engine.dispose()
        ledger.app.close()
    assert {"benefitpool_events", "event_chain", "event_chain_meta", "view_tracking",
            "household_pool", "claims_journal"} <= tables_in(schema)


def test_stores_in_two_schemas_of_one_database_are_apart(pg: Stores, book: PolicyBook) -> None:
    a, b = pg.new("a"), pg.new("b")
    first = open_ledger(a, book, audit_key=KEY)
    second = open_ledger(b, book, audit_key=KEY)
    try:
        for command in family():
            first.execute(command)
        assert second.app.recorder.max_notification_id() is None
        assert second.execute(family()[0])["status"] == "ok"  # not already_registered
    finally:
        first.app.close()
        second.app.close()


def test_processes_opening_a_new_store_at_once_create_its_tables_once(
        pg: Stores, book: PolicyBook) -> None:
    url = pg.new("race")

    def open_and_write(n: int) -> str:
        ledger = open_ledger(url, book, audit_key=KEY)
        try:
            views = open_views(ledger.app, ledger.policies, url)
            views.engine.dispose()
            return ledger.execute(family()[0])["status"]
        finally:
            ledger.app.close()

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(open_and_write, range(6)))
    assert sorted(statuses) == ["ok"] + ["rejected"] * 5
    with raw_store(url) as con:
        assert con.one("SELECT COUNT(*) FROM {chain}")[0] == 1


def test_the_cli_says_when_the_server_cannot_be_reached(tmp_path: Path) -> None:
    done = run_cli("person", HEAD, "--json", "--db",
                   "postgresql://postgres@127.0.0.1:1/test?connect_timeout=1", cwd=tmp_path)
    assert done.exit_code == 2
    assert "cannot open the store" in done.stderr and "Traceback" not in done.stderr
    # The half-built store the failed open left is collected here, on this thread, not later
    # on one of its connection pool's threads (which cannot join itself when closing it).
    gc.collect()


def test_a_money_total_past_two_to_the_31_fen_fits_the_views(pg: Stores,
                                                             book: PolicyBook) -> None:
    url = pg.new("big")
    ledger = open_ledger(url, book, audit_key=KEY)
    views = open_views(ledger.app, ledger.policies, url)
    try:
        for command in family()[:3]:
            assert ledger.execute(command)["status"] == "ok"
        big = {"op": "pay", "person": HEAD, "year": 2021, "amount": "30000000.00",
               "channel": "cash", "payment_ref": "BIG", "at": family()[0]["at"]}
        assert ledger.execute(big)["status"] == "ok", json.dumps(big)
        rows = queries.fund_report(views.engine, refresh=lambda: catch_up(ledger.app, views))
        assert {r["amount"] for r in rows if r["item"] == "contribution"} == {"30000000.00"}
    finally:
        views.engine.dispose()
        ledger.app.close()
