"""The views and the columnar store rebuilt from one read of the log (ADR 115): the rows of
their own rebuilds, and the same refusal at a damaged event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.composition import open_ledger, open_views
from adapters.generator import generate_county
from adapters.stores.columnar import ColumnarStore
from adapters.stores.columnar import catchup as columnar
from adapters.stores.columnar.store import FILE
from adapters.usecases import views as use
from domain.policy_book import PolicyBook
from projections.tables import VIEWS
from projections.views import ViewsDamaged, rebuild
from tests.support.stores import raw_store
from tests.support.views import columnar_tables, view_rows


@pytest.fixture
def county(store_url: str, book: PolicyBook):
    ledger = open_ledger(store_url, book)
    lines = [json.dumps(c) for c in generate_county(40, "fuyang-2021", 5, book)]
    list(ledger.execute_lines(lines, batch_size=50))
    ledger.app.close()
    return store_url


def rebuilt_apart(url: str, book: PolicyBook, folder: Path) -> tuple[dict, dict, list]:
    """The views and a columnar store each rebuilt by its own pass."""
    ledger = open_ledger(url, book)
    views = open_views(ledger.app, book, url)
    columns = ColumnarStore(folder / FILE, ledger.app.name)
    try:
        rows = use.rebuild(ledger.app, views, list(VIEWS))
        rows.append(use.rebuild_columnar(ledger.app, columns, views.personal))
        return view_rows(views), columnar_tables(columns), rows
    finally:
        columns.close()
        views.engine.dispose()
        ledger.app.close()


def rebuilt_together(url: str, book: PolicyBook, folder: Path, **sizes: int
                     ) -> tuple[dict, dict, list]:
    """The views and a columnar store rebuilt from one read of the log."""
    ledger = open_ledger(url, book)
    views = open_views(ledger.app, book, url)
    columns = ColumnarStore(folder / FILE, ledger.app.name)
    try:
        rows = use.rebuild_with_columnar(ledger.app, views, list(VIEWS), columns, **sizes)
        return view_rows(views), columnar_tables(columns), rows
    finally:
        columns.close()
        views.engine.dispose()
        ledger.app.close()


@pytest.mark.parametrize("sizes", [{}, {"step": 301, "batch_size": 97}],
                         ids=["default sizes", "small steps and batches"])
def test_one_read_gives_the_rows_and_positions_of_the_two_rebuilds_apart(
        county: str, book: PolicyBook, tmp_path: Path, sizes: dict) -> None:
    views_apart, columns_apart, status_apart = rebuilt_apart(county, book, tmp_path / "a")
    views_together, columns_together, status_together = rebuilt_together(
        county, book, tmp_path / "b", **sizes)
    assert views_together == views_apart
    assert columns_together == columns_apart
    assert status_together == status_apart
    assert len(columns_together["claims"]) > 0 and len(views_together["claims_journal"]) > 0
    assert all(row["lag"] == 0 for row in status_together), status_together


def test_progress_is_reported_after_each_step_up_to_the_head(
        county: str, book: PolicyBook, tmp_path: Path) -> None:
    ledger = open_ledger(county, book)
    views = open_views(ledger.app, book, county)
    columns = ColumnarStore(tmp_path / FILE, ledger.app.name)
    seen: list[tuple[int, int]] = []
    try:
        use.rebuild_with_columnar(ledger.app, views, list(VIEWS), columns,
                                  lambda reached, head: seen.append((reached, head)), step=500)
        head = ledger.app.recorder.max_notification_id()
    finally:
        columns.close()
        views.engine.dispose()
        ledger.app.close()
    assert [r for r, _ in seen] == [*range(500, head, 500), head]
    assert {h for _, h in seen} == {head}


def forge_a_second_settlement(url: str) -> int:
    """A copy of the first settled claim appended to its household's stream: the views refuse
    a second row for the claim; returns its position."""
    with raw_store(url) as con:
        oid, topic, state = con.one(
            "SELECT originator_id, topic, state FROM {events} WHERE topic LIKE ? "
            "ORDER BY {pos} LIMIT 1", ("%OutpatientClaimSettled",))
        last = con.one("SELECT MAX(originator_version) FROM {events} WHERE originator_id=?",
                       (oid,))[0]
        return con.insert_event(oid, last + 1, topic, bytes(state))


def undecodable_event(url: str) -> int:
    """The state of one settled claim replaced by bytes that are not JSON; its position."""
    with raw_store(url) as con:
        position = con.one("SELECT {pos} FROM {events} WHERE topic LIKE ? ORDER BY {pos} "
                           "LIMIT 1 OFFSET 7", ("%OutpatientClaimSettled",))[0]
        con.execute("UPDATE {events} SET state = ? WHERE {pos} = ?", (b"\xff not json",
                                                                      position))
        return position


def caught_up_to(app, views, folder: Path, stop: int, batch_size: int) -> dict:
    """The tables of a columnar store caught up from the log alone to `stop` in batches of
    `batch_size` (a forged second settlement is a second row only across batches)."""
    alone = ColumnarStore(folder / "alone" / FILE, app.name)
    try:
        columnar.catch_up(app, alone, stop=stop, personal=views.personal,
                          batch_size=batch_size)
        return columnar_tables(alone)
    finally:
        alone.close()


@pytest.mark.parametrize("damage", [forge_a_second_settlement, undecodable_event],
                         ids=["an event the views cannot apply", "an event that does not decode"])
def test_a_damaged_event_stops_the_one_read_where_the_views_own_rebuild_stops(
        county: str, book: PolicyBook, tmp_path: Path, damage) -> None:
    position = damage(county)
    ledger = open_ledger(county, book)
    views = open_views(ledger.app, book, county)
    columns = ColumnarStore(tmp_path / FILE, ledger.app.name)
    try:
        with pytest.raises(ViewsDamaged) as apart:  # in batches as small as the one read's
            rebuild(ledger.app, views, batch_size=150)
        with pytest.raises(ViewsDamaged) as together:
            use.rebuild_with_columnar(ledger.app, views, list(VIEWS), columns, step=400,
                                      batch_size=150)
        assert str(together.value) == str(apart.value)
        assert f"position {position}" in str(together.value)
        assert min(views.positions().values()) < position
        written = columns.position  # what it wrote is the log's up to there, nothing more
        assert columnar_tables(columns) == caught_up_to(ledger.app, views, tmp_path, written,
                                                               150)
        if damage is undecodable_event:
            assert written < position
    finally:
        columns.close()
        views.engine.dispose()
        ledger.app.close()


def test_the_columnar_folder_fed_by_hand_writes_what_its_catch_up_writes(
        county: str, book: PolicyBook, tmp_path: Path) -> None:
    ledger = open_ledger(county, book)
    views = open_views(ledger.app, book, county)
    by_hand = ColumnarStore(tmp_path / "a" / FILE, ledger.app.name)
    caught_up = ColumnarStore(tmp_path / "b" / FILE, ledger.app.name)
    try:
        folder = columnar.Folder(ledger.app, by_hand, views.personal, batch_size=61)
        head = ledger.app.recorder.max_notification_id()
        for n in ledger.app.recorder.select_notifications(1, head, stop=head):
            folder.take(n.id, ledger.app.mapper.to_domain_event(n))
        folder.finish(head)
        columnar.catch_up(ledger.app, caught_up, personal=views.personal, batch_size=61)
        assert folder.damaged is None
        assert columnar_tables(by_hand) == columnar_tables(caught_up)
    finally:
        by_hand.close()
        caught_up.close()
        views.engine.dispose()
        ledger.app.close()
