"""Properties of the read models: however the log is cut into batches, stops and single-view
rebuilds, the views end up with exactly the rows of one full rebuild; and views stopped at a
position answer exactly what fully built views answer `at_position` that position. On SQLite
and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, select

from adapters.application.ledger import Ledger
from adapters.composition import open_ledger
from adapters.generator import generate_county
from adapters.stores.policy_files import load_policy_book
from adapters.stores.views import views_engine
from domain.errors import Rejected
from projections import queries as q
from projections import tables as t
from projections.views import LedgerViews, catch_up, rebuild
from tests.support.stores import Stores, examples_on

BOOK = load_policy_book()
EXAMPLES = 20
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    out = {}
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            if table is not t.view_tracking:
                pk = list(table.primary_key.columns)
                out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*pk))]
    return out


class Log:
    """Two small counties (Fuyang 2021, Gaizhou 2025) in one store, and their full rebuild."""

    def __init__(self, made: Stores) -> None:
        self.made = made
        self.ledger: Ledger = open_ledger(made.new("events"), BOOK)
        for regime in ("fuyang-2021", "gaizhou-2025"):
            commands = generate_county(14, regime, 5, BOOK)
            list(self.ledger.execute_lines(json.dumps(c, ensure_ascii=False) for c in commands))
        self.head = self.ledger.app.recorder.max_notification_id()
        self.engine = views_engine(made.new("full"))
        rebuild(self.ledger.app, LedgerViews(self.engine, BOOK))
        self.full = snapshot(self.engine)
        with self.engine.connect() as conn:
            self.people = [(r.number, r.year) for r in conn.execute(
                select(t.person_registry.c.number, t.person_year_version.c.year).join(
                    t.person_year_version,
                    t.person_year_version.c.person == t.person_registry.c.person).distinct()
                .order_by(t.person_registry.c.number))]


    @contextmanager
    def fresh_views(self) -> Iterator[Engine]:
        """An engine on new, empty views: in memory on SQLite, a new schema on PostgreSQL."""
        engine = (create_engine("sqlite://") if self.made.kind == "sqlite"
                  else views_engine(self.made.new("views")))
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def log(module_stores: Stores) -> Iterator[Log]:
    """The log on SQLite for the module's tests, then on PostgreSQL."""
    made = Log(module_stores)
    yield made
    made.ledger.app.close()
    made.engine.dispose()


def answer(f, *args, **kwargs) -> Any:
    try:
        return f(*args, **kwargs)
    except Rejected as e:
        return e.reason


steps = st.lists(
    st.tuples(
        st.integers(3, 400),  # batch size (1 is as valid, and only slower)
        st.floats(0, 1),  # where to stop, as a share of the log
        st.one_of(st.none(), st.sampled_from(t.VIEWS)),  # a view to rebuild first, or none
    ),
    min_size=1, max_size=5)


def test_catching_up_in_random_batches_and_stops_equals_one_full_rebuild(log, module_stores):
    @settings(SETTINGS, max_examples=examples_on(module_stores.kind, EXAMPLES))
    @given(steps=steps, last_batch=st.integers(50, 2000))
    def equal(steps, last_batch):
        with log.fresh_views() as engine:
            views = LedgerViews(engine, BOOK)
            app = log.ledger.app
            for batch_size, share, reset in steps:
                if reset is not None:
                    views.reset([reset])
                catch_up(app, views, batch_size=batch_size, stop=int(share * log.head))
            catch_up(app, views, batch_size=last_batch)
            assert snapshot(engine) == log.full
            assert set(views.positions().values()) == {log.head}

    equal()


def test_views_stopped_at_a_position_answer_what_full_views_say_at_that_position(
        log, module_stores):
    @settings(SETTINGS, max_examples=examples_on(module_stores.kind, EXAMPLES))
    @given(share=st.floats(0, 1), batch_size=st.integers(3, 500),
           picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=6))
    def same_answers(share, batch_size, picks):
        stopped_views_answer(log, share, batch_size, picks)

    same_answers()


def stopped_views_answer(log, share, batch_size, picks):
    position = int(share * log.head)
    with log.fresh_views() as engine:
        views = LedgerViews(engine, BOOK)
        catch_up(log.ledger.app, views, batch_size=batch_size, stop=position)
        for pick in picks:
            number, year = log.people[pick % len(log.people)]
            assert answer(q.household, engine, number, year) == answer(
                q.household, log.engine, number, year, at_position=position)
            assert answer(q.person, engine, number) == answer(
                q.person, log.engine, number, at_position=position)
            assert answer(q.person, engine, number, year) == answer(
                q.person, log.engine, number, year, at_position=position)
