"""A household or person asked of an SQLite store whose views are current is read through
`sqlite3` alone (ADR 96): over generated stores, for any person, year, business date and log
position, that answer — the names included — is the ledger's, refusals alike; and a store
whose views lag the log is left to the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.composition import open_ledger, open_store_reads, open_views
from adapters.generator import generate_county
from adapters.stores.policy_files import load_policy_book
from adapters.stores.sqlite_reads import StoreReads
from adapters.usecases import current_views
from adapters.usecases import views as use
from adapters.usecases.search import with_names
from domain.errors import Rejected
from projections import queries
from projections.views import catch_up
from tests.support.stores import copy_store, raw_store

BOOK = load_policy_book()
SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
QUERIES = {"household": queries.household, "person": queries.person}
#: A valid resident ID number the generated counties never register.
STRANGER = "110101199003070011"


class County:
    """Two small generated counties in one SQLite store, its views caught up."""

    def __init__(self, folder: Path) -> None:
        self.url = f"sqlite:///{folder / 'county.db'}"
        self.ledger = open_ledger(self.url, BOOK)
        for regime in ("fuyang-2021", "gaizhou-2025"):
            commands = generate_county(12, regime, 3, BOOK)
            list(self.ledger.execute_lines(json.dumps(c, ensure_ascii=False) for c in commands))
        self.views = open_views(self.ledger.app, BOOK, self.url)
        catch_up(self.ledger.app, self.views)
        self.head = self.ledger.app.recorder.max_notification_id()
        with raw_store(self.url) as sql:
            self.people = sql.execute(
                "SELECT r.number, y.year FROM person_registry r JOIN person_year_version y "
                "ON y.person = r.person GROUP BY r.number, y.year ORDER BY r.number, y.year")

    def through_the_ledger(self, query: str, ref: str, year: int | None,
                           as_of: date | None, at_position: int | None) -> Any:
        try:
            return with_names(self.ledger.app, use.ask(
                self.ledger.app, self.views, QUERIES[query], ref, year, as_of=as_of,
                at_position=at_position))
        except Rejected as e:
            return e.reason

    def through_sqlite3(self, query: str, ref: str, year: int | None, as_of: date | None,
                        at_position: int | None) -> Any:
        reads = open_store_reads(self.url)
        assert reads is not None
        with reads:
            try:
                return current_views.answer(reads, query, ref, year, as_of, at_position)
            except Rejected as e:
                return e.reason


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    made = County(tmp_path_factory.mktemp("current"))
    yield made
    made.views.engine.dispose()
    made.ledger.app.close()


asked = st.tuples(
    st.sampled_from(("household", "person")),
    st.integers(0, 10**6),  # which person of the store
    st.sampled_from(("theirs", "none", 2019, 2021, 2025)),  # which year
    st.one_of(st.none(), st.dates(date(2020, 6, 1), date(2026, 12, 31))),
    st.one_of(st.none(), st.floats(0, 1)),  # a log position, as a share of the log
    st.sampled_from(("registered",) * 4 + ("stranger", "mistyped")),
)


def mistyped(number: str) -> str:
    """An ID number with a wrong check digit."""
    return number[:-1] + ("0" if number[-1] != "0" else "1")


def test_the_sqlite3_answer_is_the_ledgers_for_any_person_year_day_and_position(county):
    @SETTINGS
    @given(asked=asked)
    def same(asked):
        query, pick, which_year, as_of, share, who = asked
        number, their_year = county.people[pick % len(county.people)]
        ref = {"registered": number, "stranger": STRANGER, "mistyped": mistyped(number)}[who]
        year = {"theirs": their_year, "none": None}.get(which_year, which_year)
        if query == "household" and year is None:
            year = their_year
        position = None if share is None else int(share * county.head)
        fast = county.through_sqlite3(query, ref, year, as_of, position)
        assert fast is not None  # the views are current: sqlite3 answers
        assert fast == county.through_the_ledger(query, ref, year, as_of, position)

    same()


def test_names_come_from_the_registrations_as_the_ledger_reads_them(county):
    number, year = county.people[0]
    with StoreReads(county.url.removeprefix("sqlite:///")) as reads:
        fast = current_views.answer(reads, "household", number, year)
    assert fast is not None and all(fast["names"].values())
    assert fast == county.through_the_ledger("household", number, year, None, None)


def test_views_that_lag_the_log_are_left_to_the_ledger(county, tmp_path):
    lagging = tmp_path / "lagging.db"
    copy_store(county.url, f"sqlite:///{lagging}")
    with raw_store(f"sqlite:///{lagging}") as sql:
        sql.execute("UPDATE view_tracking SET position = position - 1 WHERE view = 'enrollment'")
    number, year = county.people[0]
    with StoreReads(str(lagging)) as reads:
        assert reads.lag() == 1
        assert current_views.answer(reads, "household", number, year) is None


def test_a_store_without_views_yet_is_left_to_the_ledger(tmp_path):
    bare = tmp_path / "bare.db"
    ledger = open_ledger(f"sqlite:///{bare}", BOOK)
    ledger.app.close()
    with StoreReads(str(bare)) as reads:
        assert reads.lag() is None
        assert current_views.answer(reads, "person", STRANGER, None) is None
