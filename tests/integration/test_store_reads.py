"""An SQLite store read through `sqlite3` alone (ADR 96): the ledger's own events table and
registration topic, nothing written by reading, a holder of another document answered as the
ledger answers, and a store written under a cipher key left to the ledger, which opens it
with its key and refuses it without."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from eventsourcing.utils import get_topic

from adapters.composition import open_ledger, open_store_reads, open_views
from adapters.stores.cipher import create_key
from adapters.stores.policy_files import load_policy_book
from adapters.stores.sqlite_reads import PERSON_REGISTERED_TOPIC, StoreReads
from adapters.stores.urls import SQLITE_EVENTS_TABLE
from adapters.usecases import current_views
from adapters.usecases import views as use
from adapters.usecases.search import with_names
from domain.aggregates import Person
from projections import queries
from projections.views import catch_up
from tests.integration.test_personal_data import DOCUMENT, FAMILY, MEMBER, YEAR
from tests.support.cli import run_cli

BOOK = load_policy_book()


def family_store(folder: Path, key: str | None = None) -> str:
    """The family of a document holder ingested into `folder/family.db`, its views current."""
    url = f"sqlite:///{folder / 'family.db'}"
    ledger = open_ledger(url, BOOK, cipher_key=key)
    try:
        assert all(r["status"] == "ok" for r in ledger.execute_many(FAMILY))
        views = open_views(ledger.app, BOOK, url)
        catch_up(ledger.app, views)
        views.engine.dispose()
    finally:
        ledger.app.close()
    return url


def test_the_reader_knows_the_ledgers_events_table_and_registration_topic(
        tmp_path: Path) -> None:
    assert PERSON_REGISTERED_TOPIC == get_topic(Person.Registered)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", BOOK)
    try:
        assert ledger.app.recorder.events_table_name == SQLITE_EVENTS_TABLE
    finally:
        ledger.app.close()


def test_a_document_holders_household_reads_as_the_ledger_answers_it(tmp_path: Path) -> None:
    url = family_store(tmp_path)
    ledger = open_ledger(url, BOOK)
    views = open_views(ledger.app, BOOK, url)
    try:
        for query, ref in (("household", DOCUMENT), ("household", MEMBER),
                           ("person", DOCUMENT), ("person", MEMBER)):
            expected = with_names(ledger.app, use.ask(
                ledger.app, views, getattr(queries, query), ref, YEAR))
            with StoreReads(url.removeprefix("sqlite:///")) as reads:
                assert current_views.answer(reads, query, ref, YEAR) == expected
    finally:
        views.engine.dispose()
        ledger.app.close()
    assert expected["name"] == "林成员"


def test_reading_through_sqlite3_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    url = family_store(tmp_path)

    def files() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(tmp_path.iterdir())}

    before = files()
    reads = open_store_reads(url)
    assert reads is not None
    with reads:
        assert current_views.answer(reads, "household", MEMBER, YEAR) is not None
    assert files() == before


def test_a_store_under_a_cipher_key_is_answered_by_the_ledger_with_it_and_refused_without(
        tmp_path: Path) -> None:
    key = create_key()
    url = family_store(tmp_path, key)
    with_key = run_cli("household", MEMBER, "--year", str(YEAR), "--db", url, "--json",
                       env={"BENEFITPOOL_CIPHER_KEY": key})
    assert with_key.exit_code == 0
    assert json.loads(with_key.stdout)["names"][MEMBER] == "林成员"
    with StoreReads(url.removeprefix("sqlite:///")) as reads:
        assert reads.lag() == 0 and not reads.plain()
        assert current_views.answer(reads, "household", MEMBER, YEAR) is None
    without = run_cli("household", MEMBER, "--year", str(YEAR), "--db", url)
    assert without.exit_code == 2
    assert "encrypted: set BENEFITPOOL_CIPHER_KEY" in without.stderr
