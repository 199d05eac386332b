"""A region's audit without its views (ADR 130): the chain and the decisions checked, the
views not compared but caught up to the log, so the directory is checked against every
enrollment the region holds."""

from __future__ import annotations

import json

from adapters.application.ledger import Ledger
from adapters.composition import audit_region, open_ledger, open_views
from adapters.usecases.audit import run_audit
from adapters.usecases.regional_audit import RegionAuditJob, enrollments_held
from domain.policy_book import PolicyBook
from projections.views import catch_up
from tests.support.builders import HEAD, claim, family
from tests.support.states import forged_county

KEY = b"county audit key, kept by the fund office"


def run(ledger: Ledger, commands: list[dict]) -> None:
    done = list(ledger.execute_lines([json.dumps(c, ensure_ascii=False) for c in commands]))
    assert all(r["status"] == "ok" for r in done), done


def test_views_left_behind_are_caught_up_before_their_enrollments_are_read(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book, audit_key=KEY)
    run(ledger, [*family(), claim("C-1", HEAD, "9.00")])
    head = ledger.app.recorder.max_notification_id()
    views = open_views(ledger.app, book, store_url)  # never caught up: they hold nothing
    try:
        report = run_audit(ledger.app, book, None)
        held = enrollments_held(ledger.app, views, report, caught_up=False)
        assert views.positions() and min(views.positions().values()) == head
    finally:
        views.engine.dispose()
        ledger.app.close()
    assert report["clean"] and "views" not in report
    assert report["enrollments"] == {"checked": {"enrollments": len(held)}, "position": head,
                                     "problems": []}
    assert len(held) == 2 and {year for _, year in held} == {2021}


def test_views_that_stop_at_a_damaged_event_are_one_more_problem_naming_where(
        store_url: str, book: PolicyBook) -> None:
    position = forged_county(store_url, book, KEY, lambda data: data.pop("person"))
    ledger = open_ledger(store_url, book, audit_key=KEY)
    views = open_views(ledger.app, book, store_url)
    try:
        report = run_audit(ledger.app, book, None)
        before = report["problems"]
        held = enrollments_held(ledger.app, views, report, caught_up=False)
    finally:
        views.engine.dispose()
        ledger.app.close()
    stopped = report["enrollments"]
    assert [p["kind"] for p in stopped["problems"]] == ["views_stopped"]
    assert stopped["problems"][0]["position"] == position
    assert stopped["position"] == position - 1
    assert report["problems"] == before + 1 and not report["clean"]
    assert len(held) == 2  # the enrollments came before the damaged claim


def test_a_regions_audit_without_views_misses_a_forged_view_row_the_full_audit_finds(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book)  # the key a region's audit opens it with
    run(ledger, [*family(), claim("C-1", HEAD, "9.00")])
    views = open_views(ledger.app, book, store_url)
    catch_up(ledger.app, views)
    with views.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE household_pool SET used_fen = used_fen + 1")
    views.engine.dispose()
    ledger.app.close()
    with_views = audit_region(RegionAuditJob("3412", store_url, None))
    without = audit_region(RegionAuditJob("3412", store_url, None, views=False))
    assert not with_views.report["clean"]
    assert {p["kind"] for p in with_views.report["views"]["problems"]} == {"view_row_differs",
                                                                           "view_row_missing"}
    assert without.report["clean"] and "views" not in without.report
    assert without.report["decisions"] == with_views.report["decisions"]
    assert without.enrollments == with_views.enrollments and len(without.enrollments) == 2
