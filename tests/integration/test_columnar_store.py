"""The columnar claims store as a read model: caught up in steps it holds the rows the SQL
views hold (claims with their reversals, members with their coverage timeline), whatever the
batches; a store ahead of its log, of another format or another application is emptied and
rebuilt with a note; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select

from adapters.composition import open_ledger, open_views
from adapters.generator import generate_county
from adapters.stores.columnar import ColumnarStore, columnar_file
from adapters.stores.columnar import read as columnar_read
from adapters.stores.columnar.catchup import catch_up
from adapters.stores.columnar.store import FILE
from adapters.stores.policy_files import apply_patch
from adapters.usecases.views import rebuild_columnar
from adapters.usecases.whatif import run_whatif
from adapters.whatif.exact import Scope
from domain.policy_book import PolicyBook
from projections import claim_columns
from projections.tables import claims_journal, household_member, household_pool
from projections.views import catch_up as views_catch_up
from tests.support.builders import HEAD, WIFE, claim, family


@pytest.fixture
def county(store_url: str, book: PolicyBook):
    ledger = open_ledger(store_url, book)
    lines = [json.dumps(c) for c in generate_county(25, "fuyang-2021", 11, book)]
    list(ledger.execute_lines(lines, batch_size=50))
    views = open_views(ledger.app, ledger.policies, store_url)
    views_catch_up(ledger.app, views)
    yield ledger, views
    views.engine.dispose()
    ledger.app.close()


def columnar_rows(store: ColumnarStore) -> tuple[set, set]:
    claims = set(store.con.execute(
        "SELECT claim_id, household_id, person, position, reversal_position FROM claims"
    ).fetchall())
    members = set(store.con.execute(
        "SELECT household_id, person, region, CAST(covered_from AS VARCHAR), "
        "CAST(covered_to AS VARCHAR), joined_position, covered_position, suspended_position, "
        "left_position FROM members").fetchall())
    return claims, members


def view_rows(views) -> tuple[set, set]:
    cj, hm = claims_journal, household_member
    with views.engine.connect() as conn:
        claims = set(map(tuple, conn.execute(select(
            cj.c.claim_id, cj.c.household_id, cj.c.person, cj.c.position,
            cj.c.reversal_position))))
        members = set(map(tuple, conn.execute(select(
            hm.c.household_id, hm.c.person, hm.c.region, hm.c.covered_from, hm.c.covered_to,
            hm.c.joined_position, hm.c.covered_position, hm.c.suspended_position,
            hm.c.left_position))))
    return claims, members


def test_caught_up_in_small_steps_the_store_holds_the_rows_of_the_views(
        county, tmp_path: Path) -> None:
    ledger, views = county
    store = ColumnarStore(tmp_path / FILE, ledger.app.name)
    head = ledger.app.recorder.max_notification_id()
    for stop in range(0, head + 701, 701):
        catch_up(ledger.app, store, stop=stop, personal=views.personal, batch_size=37)
    claims, members = columnar_rows(store)
    assert (claims, members) == view_rows(views)
    assert any(c[4] is not None for c in claims), "the county has reversals"
    assert store.position == head and store.notes == []


def test_households_hold_the_head_and_per_person_cap_of_the_views_pools(
        county, tmp_path: Path) -> None:
    ledger, views = county
    store = ColumnarStore(tmp_path / FILE, ledger.app.name)
    catch_up(ledger.app, store, stop=2000, personal=views.personal, batch_size=97)
    catch_up(ledger.app, store, personal=views.personal, batch_size=501)
    stored = set(store.con.execute(
        "SELECT household_id, region, year, head, cap_each FROM households").fetchall())
    hp = household_pool
    with views.engine.connect() as conn:
        expected = set(map(tuple, conn.execute(select(
            hp.c.household_id, hp.c.region, hp.c.year, hp.c.head, hp.c.cap_each_fen))))
    assert stored == expected and len(stored) == 25


def test_households_formed_without_their_cap_take_their_pools_from_the_views(
        county, tmp_path: Path, book: PolicyBook) -> None:
    ledger, views = county
    store = ColumnarStore(tmp_path / FILE, ledger.app.name)
    catch_up(ledger.app, store, personal=views.personal)
    # as a log from before `Household.Formed` named the cap (ADR 29) leaves them
    store.con.execute("UPDATE households SET cap_each = NULL WHERE hkey % 2 = 0")
    patch = {"outpatient": {"ratio": "0.70", "per_person_cap": "150.00"}}
    reform = apply_patch(book, patch, "patch", None, None)
    by_views = run_whatif(ledger.app, views, book, reform, patch, Scope(), "fast")
    by_columns = run_whatif(ledger.app, views, book, reform, patch, Scope(), "fast",
                            columnar=store)
    assert by_columns.baseline.households == by_views.baseline.households
    assert by_columns.reform.households == by_views.reform.households
    assert by_columns.summary == by_views.summary
    store.close()


def test_a_rebuild_gives_the_rows_of_the_incremental_catch_up(county, tmp_path: Path) -> None:
    ledger, views = county
    stepwise = ColumnarStore(tmp_path / "a" / FILE, ledger.app.name)
    for stop in (10, 500, 501, 3000, None):
        catch_up(ledger.app, stepwise, stop=stop, personal=views.personal, batch_size=13)
    whole = ColumnarStore(tmp_path / "b" / FILE, ledger.app.name)
    rebuild_columnar(ledger.app, whole, views.personal)
    assert columnar_rows(stepwise) == columnar_rows(whole)


def test_a_store_ahead_of_its_log_is_emptied_and_rebuilt_with_a_note(
        county, tmp_path: Path) -> None:
    ledger, views = county
    store = ColumnarStore(tmp_path / FILE, ledger.app.name)
    head = catch_up(ledger.app, store, personal=views.personal)
    store.con.execute("UPDATE meta SET value = ? WHERE key = 'position'", [str(head + 50)])
    assert catch_up(ledger.app, store, personal=views.personal) == head
    assert any(f"past the log's head {head}" in n for n in store.notes)
    assert columnar_rows(store) == view_rows(views)


def test_a_store_whose_event_at_its_position_differs_is_rebuilt(county, tmp_path: Path) -> None:
    ledger, views = county
    store = ColumnarStore(tmp_path / FILE, ledger.app.name)
    catch_up(ledger.app, store, stop=1000, personal=views.personal)
    store.con.execute("UPDATE meta SET value = 'x' WHERE key = 'anchor'")
    store.con.execute("DELETE FROM claims")
    catch_up(ledger.app, store, personal=views.personal)
    assert any("is not this log's" in n for n in store.notes)
    assert columnar_rows(store) == view_rows(views)


@pytest.mark.parametrize(("key", "value", "said"), [
    ("format", "0", "it has format '0'"),
    ("format", "2", "it has format '2'"),  # households without head and cap (ADR 102)
    ("application", "other", "it belongs to application 'other'"),
])
def test_a_store_of_another_format_or_application_is_reopened_empty(
        county, tmp_path: Path, key: str, value: str, said: str) -> None:
    ledger, views = county
    store = ColumnarStore(tmp_path / FILE, ledger.app.name)
    catch_up(ledger.app, store, personal=views.personal)
    store.con.execute("UPDATE meta SET value = ? WHERE key = ?", [value, key])
    store.close()
    reopened = ColumnarStore(tmp_path / FILE, ledger.app.name)
    assert reopened.position == 0 and any(said in n for n in reopened.notes)
    catch_up(ledger.app, reopened, personal=views.personal)
    assert columnar_rows(reopened) == view_rows(views)
    reopened.close()


def test_the_columnar_store_lives_beside_a_sqlite_file_or_where_the_setting_says(
        tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fuyang.db'}"
    assert columnar_file(db, None) == tmp_path / "fuyang.db.columnar" / "claims.duckdb"
    assert columnar_file(db, "/fast/cols") == Path("/fast/cols/claims.duckdb")
    assert columnar_file("postgresql://u@h:5432/db?schema=s", None) is None
    assert columnar_file("postgresql://u@h:5432/db?schema=s", "/fast/cols") == Path(
        "/fast/cols/claims.duckdb")
    assert columnar_file(db, "off") is None
    assert str(columnar_file("memory://", None)) == ":memory:"


def test_a_suspension_a_departure_and_a_reversal_after_the_rows_are_stored_patch_them(
        store_url: str, book: PolicyBook, tmp_path: Path) -> None:
    later = "2021-04-01T10:00:00+08:00"
    commands = [*family(), claim("C-1", HEAD, "120.00"), claim("C-2", WIFE, "80.00"),
                {"op": "report_employee_insurance", "person": WIFE, "year": 2021,
                 "at": "2020-11-01T10:00:00+08:00"},
                claim("C-3", HEAD, "60.00"),
                {"op": "refund", "person": WIFE, "year": 2021,
                 "reason": "duplicate_enrollment", "at": "2020-11-02T10:00:00+08:00"},
                claim("C-4", HEAD, "90.00"),
                {"op": "reverse_claim", "claim_id": "C-1", "reason": "billing_error",
                 "at": later}]
    ledger = open_ledger(store_url, book)
    views = open_views(ledger.app, ledger.policies, store_url)
    store = ColumnarStore(tmp_path / FILE, ledger.app.name)
    try:
        for command in commands:  # each command's events in a batch of their own
            assert ledger.execute(command)["status"] == "ok", command
            catch_up(ledger.app, store, personal=views.personal)
        views_catch_up(ledger.app, views)
        claims, members = columnar_rows(store)
        assert (claims, members) == view_rows(views)
        wife = next(m for m in members if m[1] == WIFE)
        assert wife[7] is not None and wife[8] is not None  # suspended, then left
        assert next(c for c in claims if c[0] == "C-1")[4] is not None
        patch = {"outpatient": {"ratio": "0.90"}}
        reform = apply_patch(book, patch, "patch", None, None)
        by_views = run_whatif(ledger.app, views, book, reform, patch, Scope(), "fast")
        by_columns = run_whatif(ledger.app, views, book, reform, patch, Scope(), "fast",
                                columnar=store)
        assert dict(by_columns.reform.claims) == dict(by_views.reform.claims)
        assert by_columns.baseline.person_years == by_views.baseline.person_years
        assert by_columns.baseline.policies == by_views.baseline.policies
        assert by_columns.summary == by_views.summary
    finally:
        store.close()
        views.engine.dispose()
        ledger.app.close()


@pytest.mark.parametrize("where", ["write", "read"])
def test_a_duckdb_failure_under_the_whatif_is_noted_and_the_views_are_read(
        county, tmp_path: Path, book: PolicyBook, monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    ledger, views = county
    store = ColumnarStore(tmp_path / FILE, ledger.app.name)
    patch = {"outpatient": {"ratio": "0.70"}}
    reform = apply_patch(book, patch, "patch", None, None)
    expected = run_whatif(ledger.app, views, book, reform, patch, Scope(), "fast")

    def fail(*_args: object, **_kwargs: object) -> None:
        raise duckdb.IOException("No space left on device")

    if where == "write":
        monkeypatch.setattr(ColumnarStore, "_insert", fail)
    else:
        catch_up(ledger.app, store, personal=views.personal)
        monkeypatch.setattr(columnar_read, "_read", fail)
    result = run_whatif(ledger.app, views, book, reform, patch, Scope(), "fast",
                        columnar=store)
    assert dict(result.reform.claims) == dict(expected.reform.claims)
    assert result.summary == expected.summary
    said = "written" if where == "write" else "read"
    assert any(f"could not be {said}" in n and "No space left" in n for n in store.notes)
    if where == "write":
        assert store.position == 0  # nothing of the failed batch was kept
    store.close()


@pytest.mark.parametrize(("key", "said"), [
    ("household_key", "two households share an integer key"),
    ("person_key", "two members of one household share an integer key"),
])
def test_integer_keys_that_clash_are_refused_and_the_views_answer_the_whatif(
        county, tmp_path: Path, book: PolicyBook, monkeypatch: pytest.MonkeyPatch,
        key: str, said: str) -> None:
    ledger, views = county
    patch = {"outpatient": {"ratio": "0.70"}}
    reform = apply_patch(book, patch, "patch", None, None)
    expected = run_whatif(ledger.app, views, book, reform, patch, Scope(), "fast")
    monkeypatch.setattr(claim_columns, key, lambda _value: 7)  # every key the same
    store = ColumnarStore(tmp_path / FILE, ledger.app.name)
    result = run_whatif(ledger.app, views, book, reform, patch, Scope(), "fast",
                        columnar=store)
    assert dict(result.reform.claims) == dict(expected.reform.claims)
    assert result.summary == expected.summary
    assert any(said in n and "the views were read instead" in n for n in store.notes), store.notes
    store.close()
