"""The read models: fed from the notification log, atomic with their tracking, equal to what the
aggregates say — now, as of a business date and at a position of the log."""

from __future__ import annotations

import gc
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import Repository
from eventsourcing.persistence import StoredEvent, Tracking
from sqlalchemy import Engine, func, select, text

import projections.store as views_module
from adapters.application.ledger import Ledger
from adapters.composition import open_ledger
from adapters.generator import generate_county
from adapters.stores.events import LedgerApplication
from adapters.stores.policy_files import load_policy_book
from adapters.stores.urls import store_env
from adapters.stores.views import views_engine
from adapters.usecases.audit import run_audit
from domain.aggregates import Household, Person
from domain.errors import Rejected
from domain.identity import parse_person_ref
from domain.ids import household_id, person_id
from domain.money import Money
from projections import queries as q
from projections import tables as t
from projections.rows import Batch
from projections.views import (
    TOPICS,
    LedgerViews,
    ViewConflict,
    catch_up,
    rebuild,
    status,
)
from tests.support.at_once import at_once
from tests.support.oracles import household_view, person_view
from tests.support.stores import Stores, stores

BOOK = load_policy_book()
REGIMES = {"fuyang-2021": 2021, "gaizhou-2025": 2025}
#: Households of the generated counties: fewer on PostgreSQL, whose round trips cost more in
#: these per-person comparisons (the same code runs on both stores).
HOUSEHOLDS = {"sqlite": 200, "postgresql": 60}


# --- helpers -------------------------------------------------------------------------------------


def lines(commands: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(c, ensure_ascii=False) for c in commands]


def ingest(ledger: Ledger, commands: list[dict[str, Any]]) -> None:
    list(ledger.execute_lines(lines(commands)))


class ReadingApplication(LedgerApplication):
    """Keeps every aggregate it replayed: for comparisons on a store no longer written."""

    def construct_repository(self) -> Repository:
        return Repository(event_store=self.events, snapshot_store=self.snapshots,
                          cache_maxsize=10**6, fastforward=False, deepcopy_from_cache=False)


def reader(url: str) -> Ledger:
    """A ledger that answers from aggregates replayed once each (for comparisons only)."""
    return Ledger(ReadingApplication(env=store_env(url)), BOOK)


def views_on(url: str) -> tuple[Engine, LedgerViews]:
    """Views in a store of their own (the events are elsewhere)."""
    engine = views_engine(url)
    return engine, LedgerViews(engine, BOOK)


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every view table's rows, in primary-key order."""
    out = {}
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            if table is t.view_tracking:
                continue
            pk = list(table.primary_key.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*pk))]
    return out


def call(f, *args, **kwargs) -> Any:
    try:
        return f(*args, **kwargs)
    except Rejected as e:
        return ("rejected", e.reason)


class County:
    """A generated county ingested into a store, with views in the same store."""

    def __init__(self, url: str, regime: str, households: int) -> None:
        self.year = REGIMES[regime]
        self.households = households
        writer = open_ledger(url, BOOK)
        ingest(writer, list(generate_county(households, regime, 7, BOOK)))
        writer.app.close()
        self.ledger = reader(url)
        self.engine = views_engine(url)
        self.views = LedgerViews(self.engine, BOOK)
        catch_up(self.ledger.app, self.views)
        app = self.ledger.app
        created = app.recorder.select_notifications(
            1, 10**7, topics=[t for t in TOPICS if t.endswith(("Registered", "Formed"))])
        events = [app.mapper.to_domain_event(n) for n in created]
        self.persons = [e.number for e in events if isinstance(e, Person.Registered)]
        self.heads = [e.head for e in events if isinstance(e, Household.Formed)]


@pytest.fixture(scope="module", params=sorted(REGIMES))
def county(request, module_stores: Stores) -> Iterator[County]:
    regime = request.param
    made = County(module_stores.new(regime), regime, HOUSEHOLDS[module_stores.kind])
    yield made
    made.ledger.app.close()
    made.engine.dispose()


# --- the views equal the aggregates --------------------------------------------------------------


def test_every_person_and_household_answered_from_the_views_equals_the_aggregates(county):
    ledger, engine, year = county.ledger, county.engine, county.year
    assert len(county.heads) == county.households
    for person in county.persons:
        assert q.person(engine, person) == person_view(ledger, person)
        for y in (year, year + 1):
            assert q.person(engine, person, y) == person_view(ledger, person, y)
        assert call(q.household, engine, person, year) == call(household_view, ledger, person,
                                                              year)


def test_as_of_a_business_date_a_household_equals_its_events_folded_up_to_that_date(county):
    ledger, engine, year = county.ledger, county.engine, county.year
    days = [date(year - 1, 9, 15), date(year - 1, 12, 31), date(year, 1, 1), date(year, 4, 30),
            date(year, 9, 1)]
    seen = Counter()
    for head in county.heads:
        for day in days:
            expected = call(household_view, ledger, head, year, as_of=day)
            assert call(q.household, engine, head, year, as_of=day) == expected, (head, day)
            seen[isinstance(expected, dict) and bool(expected["claims"])] += 1
    assert seen[True] and seen[False]  # some dates before claims, some after


def person_as_of(ledger: Ledger, events: list[Any], ref: str, year: int | None,
                 day: date) -> Any:
    """The person view on a business date, folded independently from the Person's events."""
    person = None
    for event in events:
        at = event.at.date() if isinstance(getattr(event, "at", None), datetime) else date.min
        if at > day:
            continue
        if person is None:
            if not isinstance(event, Person.Registered):
                continue
            person = event.mutate(None)
            continue
        try:
            event.apply(person)
        except KeyError:  # a fact about an enrollment recorded after the day
            continue
    if person is None:
        return ("rejected", "unknown_person")
    if year is None:
        year = max(person.years) if person.years else None
    py = person.year(year) if year is not None else None
    reimbursed = Money(0)
    if py is not None:
        view = call(household_view, ledger, ref, year, as_of=day)
        if isinstance(view, dict):
            reimbursed = Money(sum(Money.parse(c["reimbursed"]).fen for c in view["claims"]
                                   if c["person"] == person.number and not c["reversed"]))
    return {
        "person": person.number, "year": year, "region": py.region if py else person.region,
        "household_head": py.household_head.removeprefix("doc:") if py else None,
        "enrolled": bool(py and not py.terminated),
        "covered_from": py.covered_from.isoformat() if py and py.covered_from else None,
        "due": str(py.due) if py else None, "subsidy": str(py.subsidy) if py else None,
        "paid": str(py.paid) if py else "0.00", "refunded": str(py.refunded) if py else "0.00",
        "credit": str(py.credit) if py else "0.00", "reimbursed": str(reimbursed),
        "identity": py.identity if py else None,
    }


def test_as_of_a_business_date_a_person_equals_their_events_folded_up_to_that_date(county):
    ledger, engine, year = county.ledger, county.engine, county.year
    for person in county.persons[::3]:
        events = list(ledger.app.events.get(person_id(parse_person_ref(person).key)))
        for day in (date(year - 1, 10, 20), date(year - 1, 12, 31), date(year, 6, 30)):
            expected = person_as_of(ledger, events, person, None, day)
            assert call(q.person, engine, person, as_of=day) == expected, (person, day)
            expected = person_as_of(ledger, events, person, year, day)
            assert call(q.person, engine, person, year, as_of=day) == expected, (person, day)


def ledger_at(ledger: Ledger, position: int) -> Ledger:
    """A ledger in memory holding exactly the events whose notification id is <= position."""
    copy = reader("memory://")
    notifications = ledger.app.recorder.select_notifications(1, position, stop=position)
    copy.app.recorder.insert_events([
        StoredEvent(originator_id=n.originator_id, originator_version=n.originator_version,
                    topic=n.topic, state=n.state) for n in notifications])
    return copy


def test_at_a_position_the_views_equal_the_ledger_rebuilt_from_the_log_up_to_it(county):
    ledger, engine, year = county.ledger, county.engine, county.year
    head = ledger.app.recorder.max_notification_id()
    for position in (head // 7, head // 3 + 1, (2 * head) // 3 - 1, head):
        then = ledger_at(ledger, position)
        for person in county.persons[position % 3::3]:
            assert call(q.person, engine, person, at_position=position) == call(
                person_view, then, person), (person, position)
            assert call(q.household, engine, person, year, at_position=position) == call(
                household_view, then, person, year), (person, position)


# --- the fund ledger and enrollment equal sums over the aggregates -------------------------------


def aggregate_sums(county: County) -> tuple[dict, dict]:
    app = county.ledger.app
    money: defaultdict[tuple, int] = defaultdict(int)
    counts: defaultdict[tuple, int] = defaultdict(int)
    for number in county.persons:
        person = app.repository.get(person_id(parse_person_ref(number).key))
        for year, py in person.years.items():
            money[(py.region, year, "contribution")] += py.paid.fen
            money[(py.region, year, "refund")] += py.refunded.fen
            if not py.terminated:
                money[(py.region, year, "subsidy")] += py.subsidy.fen
                counts[(py.region, year, py.identity or q.NO_IDENTITY, "enrolled")] += 1
                if py.covered_from is not None:
                    policy = BOOK.find(py.region, year)
                    money[(py.region, year, "fiscal_due")] += policy.contribution.fiscal.fen
                    counts[(py.region, year, py.identity or q.NO_IDENTITY, "covered")] += 1
    for head in county.heads:
        household = app.get_or_none(household_id(parse_person_ref(head).key, county.year))
        money[(household.region, household.year, "reimbursement")] += household.used().fen
    return money, counts


def test_the_fund_ledger_totals_equal_sums_over_persons_and_households(county):
    money, _ = aggregate_sums(county)
    report: defaultdict[tuple, int] = defaultdict(int)
    for row in q.fund_report(county.engine):
        if row["item"] not in ("total", "balance"):
            report[(row["region"], row["year"], row["item"])] += Money.parse(row["amount"]).fen
    assert {k: v for k, v in report.items() if v} == {k: v for k, v in money.items() if v}
    assert any(item == "reimbursement" for _, _, item in report)
    assert any(item == "refund" for _, _, item in report)


def test_each_region_years_fund_totals_add_up_its_lines_and_the_balance_takes_out_what_left(
        county):
    report = q.fund_report(county.engine)
    lines: defaultdict[tuple, int] = defaultdict(int)
    totals: dict[tuple, int] = {}
    balances: dict[tuple, int] = {}
    for row in report:
        where, fen = (row["region"], row["year"]), Money.parse(row["amount"]).fen
        if row["item"] == "total":
            totals[(*where, row["key"])] = fen
        elif row["item"] == "balance":
            balances[where] = fen
        else:
            lines[(*where, row["item"])] += fen
    assert balances and set(balances) == {k[:2] for k in lines}
    for (region, year, item), fen in totals.items():
        assert fen == lines.get((region, year, item), 0), (region, year, item)
    for (region, year), fen in balances.items():
        def total(item: str, where=(region, year)) -> int:
            return totals[(*where, item)]
        assert fen == (total("contribution") + total("subsidy") + total("fiscal_due")
                       - total("reimbursement") - total("refund"))
    items = {"contribution", "subsidy", "fiscal_due", "reimbursement", "refund"}
    assert {key for (*_, key) in totals} == items
    assert len(totals) == len(items) * len(balances)


def test_enrollment_counts_equal_the_person_years_by_identity(county):
    _, counts = aggregate_sums(county)
    report = q.enrollment_report(county.engine, year=county.year)
    by_identity = {}
    for row in report:
        if row["identity"] not in ("*", "lifted_out_of_poverty"):
            by_identity[(row["region"], row["year"], row["identity"], "enrolled")] = \
                row["enrolled"]
            by_identity[(row["region"], row["year"], row["identity"], "covered")] = \
                row["covered"]
    assert {k: v for k, v in by_identity.items() if v} == {k: v for k, v in counts.items() if v}
    totals = [r for r in report if r["identity"] == "*"]
    assert totals and all(r["registered"] >= r["enrolled"] > 0 for r in totals)
    assert sum(r["registered"] for r in totals) == len(county.persons)


def test_every_enrollment_rate_divides_covered_by_enrolled_and_only_all_identities_by_registered(
        county):
    report = q.enrollment_report(county.engine, year=county.year)
    assert report and all(row["identity"] for row in report)

    def share(part: int, whole: int) -> str | None:
        exact = Decimal(part) / whole if whole else None
        return None if exact is None else str(exact.quantize(Decimal("0.0001"), ROUND_HALF_UP))

    for row in report:
        assert row["rate"] == share(row["covered"], row["enrolled"]), row
        if row["identity"] == q.ALL_IDENTITIES:
            assert row["covered_of_registered"] == share(row["covered"], row["registered"])
        else:
            assert row["registered"] is None and row["covered_of_registered"] is None


def test_a_year_with_no_enrollment_has_no_enrollment_or_fund_rows(county):
    empty = county.year + 5
    assert q.enrollment_report(county.engine, year=empty) == []
    assert q.fund_report(county.engine, year=empty) == []


def test_the_enrollment_report_shows_the_99_percent_target_for_people_lifted_out_of_poverty(
        county):
    report = q.enrollment_report(county.engine, year=county.year)
    groups = [r for r in report if r["identity"] == "lifted_out_of_poverty"]
    assert groups and all(r["target"] == "0.99" for r in groups)
    for r in report:
        if r["identity"] in q.LIFTED_OUT_OF_POVERTY:
            assert r["target"] == "0.99"
            assert r["met"] == (r["rate"] is not None and float(r["rate"]) >= 0.99)
        elif r["identity"] not in ("lifted_out_of_poverty",):
            assert r["target"] is None


# --- atomicity and resuming ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(module_stores: Stores) -> Iterator[tuple[Stores, Ledger, list[dict], list[dict]]]:
    """A small county split in two halves; only the first half is ingested."""
    commands = list(generate_county(40, "gaizhou-2025", 11, BOOK))
    half = len(commands) // 2
    ledger = open_ledger(module_stores.new("events"), BOOK)
    ingest(ledger, commands[:half])
    yield module_stores, ledger, commands[:half], commands[half:]
    ledger.app.close()


class Fresh:
    """Fresh stores of the small county's kind for one test; their engines and ledgers are
    closed after it."""

    def __init__(self, made: Stores) -> None:
        self.made = made
        self.engines: list[Engine] = []
        self.ledgers: list[Ledger] = []

    def views(self, name: str = "views") -> tuple[Engine, LedgerViews]:
        engine, views = views_on(self.made.new(name))
        self.engines.append(engine)
        return engine, views

    def ledger(self, name: str = "events") -> Ledger:
        ledger = open_ledger(self.made.new(name), BOOK)
        self.ledgers.append(ledger)
        return ledger

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()
        for ledger in self.ledgers:
            ledger.app.close()


@pytest.fixture
def fresh(small, tmp_path: Path) -> Iterator[Fresh]:
    with stores(small[0].kind, tmp_path) as made:
        places = Fresh(made)
        yield places
        places.close()


def reference(fresh: Fresh, ledger: Ledger, name: str) -> dict[str, list[tuple]]:
    engine, views = fresh.views(name)
    rebuild(ledger.app, views)
    return snapshot(engine)


@pytest.mark.parametrize("fail_at", [1, 2, 4, 7])
def test_a_failure_inside_the_write_transaction_leaves_neither_rows_nor_tracking(
        small, fresh, monkeypatch, fail_at):
    _, ledger, _, _ = small
    head = ledger.app.recorder.max_notification_id()
    engine, views = fresh.views()
    catch_up(ledger.app, views, batch_size=300, stop=head // 3)
    before, positions = snapshot(engine), views.positions()

    real = views_module._execute
    calls = {"n": 0}

    def failing(conn, statement, rows):
        calls["n"] += 1
        if calls["n"] == fail_at:
            real(conn, statement, rows[: len(rows) // 2 + 1])  # some rows are written...
            raise OSError("the disk failed")  # ...then the transaction fails
        real(conn, statement, rows)

    monkeypatch.setattr(views_module, "_execute", failing)
    with pytest.raises(OSError):
        catch_up(ledger.app, views, batch_size=10**6)
    assert views.positions() == positions
    assert snapshot(engine) == before

    monkeypatch.setattr(views_module, "_execute", real)
    assert catch_up(ledger.app, views, batch_size=250) == head
    full = reference(fresh, ledger, f"full{fail_at}")
    assert snapshot(engine) == full
    assert catch_up(ledger.app, views) == head  # again: nothing new, nothing counted twice
    assert snapshot(engine) == full
    assert set(views.positions().values()) == {head}


def test_resuming_after_new_events_never_double_counts(small, fresh):
    _, ledger, first, second = small
    engine, views = fresh.views()
    catch_up(ledger.app, views, batch_size=97)
    with engine.connect() as conn:
        used_before = conn.execute(select(func.sum(t.household_pool.c.used_fen))).scalar()
    again = fresh.ledger()
    ingest(again, first)
    engine2, views2 = fresh.views("views2")
    catch_up(again.app, views2, batch_size=50)
    assert snapshot(engine2) == snapshot(engine)
    ingest(again, second)
    for _ in range(3):
        catch_up(again.app, views2, batch_size=113)
    expected = reference(fresh, again, "full")
    assert snapshot(engine2) == expected
    with engine2.connect() as conn:
        used = conn.execute(select(func.sum(t.household_pool.c.used_fen))).scalar()
        reimbursed = conn.execute(select(func.sum(t.fund_ledger.c.amount_fen)).where(
            t.fund_ledger.c.item == "reimbursement")).scalar()
    assert used == reimbursed > used_before


def test_a_catch_up_that_another_process_got_ahead_of_rolls_back_and_resumes(
        small, fresh, monkeypatch):
    _, ledger, _, _ = small
    engine, views = fresh.views()
    other = LedgerViews(engine, BOOK)  # a second process on the same tables
    recorder = ledger.app.recorder
    real_select = recorder.select_notifications
    raced = {"done": False}

    def select_and_race(*args, **kwargs):
        found = real_select(*args, **kwargs)
        if not raced["done"]:
            raced["done"] = True
            catch_up(ledger.app, other, batch_size=200)  # gets there first
        return found

    monkeypatch.setattr(recorder, "select_notifications", select_and_race)
    catch_up(ledger.app, views, batch_size=10**6)
    monkeypatch.undo()
    assert raced["done"]
    assert snapshot(engine) == reference(fresh, ledger, "race")


def test_a_catch_up_far_behind_folds_far_steps_then_the_callers_batches_to_the_same_rows(
        small, fresh):
    _, ledger, _, _ = small
    recorder = ledger.app.recorder
    head = recorder.max_notification_id()
    far, near = head // 5, 17
    engine, views = fresh.views()
    spans: list[tuple[int, int]] = []
    start = {"at": 0}
    write = views.write

    def recording(conn: Any, batch: Batch, advancing: Any, tracking: Tracking) -> Any:
        spans.append((start["at"], tracking.notification_id))
        start["at"] = tracking.notification_id
        return write(conn, batch, advancing, tracking)

    views.write = recording
    assert catch_up(ledger.app, views, batch_size=near, far_step=far) == head
    assert snapshot(engine) == reference(fresh, ledger, "whole")

    def folded(after: int, upto: int) -> int:  # the views' events in a batch
        return len(recorder.select_notifications(after + 1, 10**6, stop=upto, topics=TOPICS))

    far_ones = [(a, b) for a, b in spans if head - a > far]
    near_ones = [(a, b) for a, b in spans if head - a <= far]
    assert len(far_ones) >= 3 and len(near_ones) >= 2
    assert {folded(a, b) for a, b in far_ones} == {far}
    assert {folded(a, b) for a, b in near_ones[:-1]} == {near}
    assert spans[-1][1] == head


def test_a_catch_up_without_a_far_step_keeps_the_callers_batches_throughout(small, fresh):
    _, ledger, _, _ = small
    head = ledger.app.recorder.max_notification_id()
    engine, views = fresh.views()
    ends: list[int] = []
    write = views.write

    def recording(conn: Any, batch: Batch, advancing: Any, tracking: Tracking) -> Any:
        ends.append(tracking.notification_id)
        return write(conn, batch, advancing, tracking)

    views.write = recording
    catch_up(ledger.app, views, batch_size=head // 4, far_step=None)
    assert len(ends) >= 4 and ends[-1] == head
    with pytest.raises(ValueError, match="at least 1"):
        catch_up(ledger.app, views, far_step=0)


def test_processes_opening_the_views_of_a_new_store_at_once_all_open_them(
        store_url: str) -> None:
    said = at_once(lambda: LedgerViews(views_engine(store_url), BOOK).engine.dispose())
    assert said == ["done"] * 8
    views = LedgerViews(views_engine(store_url), BOOK)
    assert views.positions() == dict.fromkeys(t.VIEWS, 0)  # one tracking row each
    views.engine.dispose()


def test_a_batch_written_from_stale_positions_is_refused(small, fresh):
    _, ledger, _, _ = small
    engine, views = fresh.views()
    catch_up(ledger.app, views, stop=100)
    stale = {v: 50 for v in t.VIEWS}
    with pytest.raises(ViewConflict), engine.begin() as conn:
        views.write(conn, Batch(), stale, Tracking("benefitpool", 200))
    assert set(views.positions().values()) == {100}


def test_rebuilding_one_view_alone_gives_the_rows_of_a_full_rebuild(small, fresh):
    _, ledger, _, _ = small
    engine, views = fresh.views()
    catch_up(ledger.app, views)
    full = snapshot(engine)
    for name in t.VIEWS:
        rebuild(ledger.app, views, [name])
        assert snapshot(engine) == full, name
    views.reset(["fund_ledger", "person_year"])
    lagging = {s["view"]: s for s in status(ledger.app, views)}
    head = ledger.app.recorder.max_notification_id()
    assert lagging["fund_ledger"]["lag"] == head and lagging["claims_journal"]["lag"] == 0
    assert views.max_tracking_id("benefitpool") is None
    catch_up(ledger.app, views, batch_size=333)
    assert snapshot(engine) == full
    assert views.max_tracking_id("benefitpool") == head
    assert views.has_tracking_id("benefitpool", head)
    with pytest.raises(ValueError, match="unknown view"):
        rebuild(ledger.app, views, ["nonsense"])


def test_a_catch_up_freezing_the_collector_per_batch_gives_the_same_rows_and_unfreezes_it(
        small, fresh):
    _, ledger, _, _ = small
    engine, views = fresh.views()
    catch_up(ledger.app, views)
    expected = snapshot(engine)
    engine, views = fresh.views("frozen")
    frozen_during: list[int] = []
    process = views.write

    def write(*args: Any, **kwargs: Any) -> Any:
        frozen_during.append(gc.get_freeze_count())
        return process(*args, **kwargs)

    views.write = write
    gc.unfreeze()
    catch_up(ledger.app, views, batch_size=50, freeze_gc=True)
    assert snapshot(engine) == expected
    assert len(frozen_during) > 2 and frozen_during[0] == 0 and max(frozen_during) > 0
    assert gc.get_freeze_count() == 0  # given back to the collector at the end


def test_a_rebuild_that_fails_after_dropping_the_tables_keeps_the_old_rows_and_positions(
        small, fresh, monkeypatch):
    _, ledger, _, _ = small
    engine, views = fresh.views()
    catch_up(ledger.app, views)
    before, positions = snapshot(engine), views.positions()

    def broken(*args, **kwargs):
        raise OSError("the disk failed")

    monkeypatch.setattr(t.metadata, "create_all", broken)
    with pytest.raises(OSError):
        rebuild(ledger.app, views, ["claims_journal", "fund_ledger"])
    monkeypatch.undo()
    assert views.positions() == positions
    assert snapshot(engine) == before


def test_views_catch_up_before_answering_when_given_a_refresh(small, fresh):
    _, ledger, _, _ = small
    engine, views = fresh.views()
    someone = q.fund_report(engine, refresh=lambda: catch_up(ledger.app, views))
    assert someone and views.max_tracking_id("benefitpool") == \
        ledger.app.recorder.max_notification_id()


def test_queries_refuse_unknown_people_and_years_with_the_ledgers_reasons(small, fresh):
    _, ledger, _, _ = small
    engine, views = fresh.views()
    catch_up(ledger.app, views)
    with engine.connect() as conn:
        someone = conn.execute(text("select number from person_registry limit 1")).scalar()
    stranger = "110101199001011237"
    for args in ((stranger, 2025), (someone, 2019)):
        assert call(q.household, engine, *args) == call(household_view, ledger, *args)
        assert call(q.person, engine, *args) == call(person_view, ledger, *args)
    assert call(q.person, engine, someone, at_position=0) == ("rejected", "unknown_person")


def _recording_reads(monkeypatch: pytest.MonkeyPatch, recorder: Any,
                     during: Any = None) -> list[tuple[int, tuple]]:
    """The recorder's reads as (first position, topics); `during(first, topics)` runs
    before each."""
    reads: list[tuple[int, tuple]] = []
    select = recorder.select_notifications

    def recorded(start: int, limit: int, stop: Any = None, topics: Any = ()) -> Any:
        reads.append((start, tuple(topics)))
        if during is not None:
            during(start, tuple(topics))
        return select(start, limit, stop=stop, topics=topics)

    monkeypatch.setattr(recorder, "select_notifications", recorded)
    return reads


def test_an_audit_far_behind_catches_the_live_views_up_from_the_read_of_its_decisions(
        small, fresh, monkeypatch):
    _, ledger, _, _ = small
    head = ledger.app.recorder.max_notification_id()
    far = head // 5
    engine, views = fresh.views()
    reads = _recording_reads(monkeypatch, ledger.app.recorder)
    report = run_audit(ledger.app, BOOK, views, far_step=far)
    monkeypatch.undo()
    assert report["clean"], report
    assert min(views.positions().values()) == head
    assert snapshot(engine) == reference(fresh, ledger, "whole")
    views_reads = [start for start, topics in reads if topics == tuple(TOPICS)]
    assert views_reads and min(views_reads) == head - far + 1  # only the last stretch


def test_an_audit_near_the_head_leaves_the_live_views_to_their_own_catch_up(
        small, fresh, monkeypatch):
    _, ledger, _, _ = small
    head = ledger.app.recorder.max_notification_id()
    engine, views = fresh.views()
    catch_up(ledger.app, views, stop=head - 10)
    reads = _recording_reads(monkeypatch, ledger.app.recorder)
    report = run_audit(ledger.app, BOOK, views, far_step=head // 5)
    monkeypatch.undo()
    assert report["clean"], report
    assert [start for start, topics in reads if topics == tuple(TOPICS)][0] == head - 9
    assert snapshot(engine) == reference(fresh, ledger, "whole")


def test_an_audit_whose_live_views_another_process_advances_meanwhile_stays_clean(
        small, fresh):
    _, ledger, _, _ = small
    head = ledger.app.recorder.max_notification_id()
    far = head // 10
    url = fresh.made.new("shared-views")
    engine, views = views_on(url)
    other_engine, other = views_on(url)  # the same views, as another process opens them
    writes: list[int] = []
    write = views.write

    def racing(conn: Any, batch: Batch, advancing: Any, tracking: Tracking) -> Any:
        writes.append(tracking.notification_id)
        if len(writes) == 2:  # the far steps' second write: the views moved on meanwhile
            catch_up(ledger.app, other, stop=tracking.notification_id + far)
        return write(conn, batch, advancing, tracking)

    views.write = racing
    report = run_audit(ledger.app, BOOK, views, far_step=far)
    assert report["clean"], report
    assert len(writes) >= 3
    assert snapshot(engine) == reference(fresh, ledger, "whole")
    other_engine.dispose()
    engine.dispose()
