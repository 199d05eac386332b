"""Replaying recorded facts: decisions re-decided under their own policy versions, views
rebuilt and compared, the history exported as commands that rebuild the same ledger."""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.application.replay import CommandReader, read_log
from adapters.composition import open_ledger, open_views
from adapters.generator import generate_county
from adapters.stores.events import LedgerApplication
from adapters.stores.policy_files import DEFAULT_POLICY_DIR, load_policy_book
from adapters.usecases.audit import verify_decisions, verify_views
from domain.aggregates import Person
from domain.policy_book import PolicyBook, version_key
from projections.views import LedgerViews, catch_up, rebuild
from tests.support.states import plain
from tests.support.stores import raw_store
from tests.support.views import view_rows

REGIMES = ("fuyang-2021", "gaizhou-2025", "hunan-2024", "yangcheng-2022", "lishui-2020",
           "lishui-liandu-2020")


def ingest(url: str, book: PolicyBook, households: int = 40, regime: str = "fuyang-2021",
           seed: int = 3):
    ledger = open_ledger(url, book)
    lines = [json.dumps(c) for c in generate_county(households, regime, seed, book)]
    results = list(ledger.execute_lines(lines))
    assert any(r["status"] == "ok" for r in results)
    return ledger


@pytest.mark.parametrize("regime", REGIMES)
def test_every_recorded_decision_of_a_generated_county_is_what_its_policy_decides_again(
        store_url: str, book: PolicyBook, regime: str) -> None:
    ledger = ingest(store_url, book, 30, regime)
    findings = verify_decisions(ledger.app, book)
    assert findings.problems == []
    assert findings.checked["decisions"] > 100
    assert findings.checked["events"] == ledger.app.recorder.max_notification_id()


def test_every_view_equals_its_rebuild_from_the_log(store_url: str, book: PolicyBook) -> None:
    ledger = ingest(store_url, book)
    views = open_views(ledger.app, ledger.policies, store_url)
    findings = verify_views(ledger.app, views, book)
    assert findings.problems == []
    assert findings.checked["views"] == 5 and findings.checked["rows"] > 100


def test_an_edited_decision_is_found_and_located(store_url: str, book: PolicyBook) -> None:
    ledger = ingest(store_url, book)
    ledger.app.close()
    with raw_store(store_url) as con:
        row = con.one("SELECT originator_id, originator_version, state FROM {events} WHERE "
                      "topic LIKE '%OutpatientClaimSettled' ORDER BY originator_version DESC "
                      "LIMIT 1")
        state = json.loads(plain(row[2]))
        state["reimbursed"]["_data_"] += 100
        con.execute("UPDATE {events} SET state = ? WHERE originator_id = ? AND "
                    "originator_version = ?", (json.dumps(state).encode(), row[0], row[1]))
    ledger = open_ledger(store_url, book)
    problems = verify_decisions(ledger.app, book).problems
    edited = [p for p in problems if p["kind"] == "decision_differs"]
    assert edited, problems
    first = edited[0]
    assert first["stream"].replace("-", "") == str(row[0]).replace("-", "")
    assert first["version"] == row[1]
    assert "reimbursed" in first["fields"]


def test_a_decision_stays_verifiable_under_its_own_version_when_a_newer_one_is_in_force(
        store_url: str, tmp_path: Path, book: PolicyBook) -> None:
    ledger = ingest(store_url, book)
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    path, version = in_force_file(policies, "fuyang-2021")
    following = str(int(version) + 1)
    newer = path.read_text(encoding="utf-8").replace(
        f'version = "{version}"', f'version = "{following}"').replace(
        'ratio = "0.55"', 'ratio = "0.60"')
    (policies / f"fuyang-2021.v{following}.toml").write_text(newer, encoding="utf-8")
    both = load_policy_book(policies)
    assert both.find("341225", 2021).version == following
    findings = verify_decisions(ledger.app, both)
    assert findings.problems == []


def test_a_policy_file_changed_after_its_decisions_is_reported(
        store_url: str, tmp_path: Path, book: PolicyBook) -> None:
    ledger = ingest(store_url, book, households=10)
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    path, _ = in_force_file(policies, "fuyang-2021")
    path.write_text(path.read_text(encoding="utf-8").replace(
        'per_person_cap = "250.00"', 'per_person_cap = "200.00"'), encoding="utf-8")
    findings = verify_decisions(ledger.app, load_policy_book(policies))
    kinds = {p["kind"] for p in findings.problems}
    assert "policy_unavailable" in kinds
    assert any("changed since the decision" in p["message"] for p in findings.problems)


def test_a_view_row_changed_behind_the_ledgers_back_is_reported(store_url: str,
                                                                book: PolicyBook) -> None:
    ledger = ingest(store_url, book)
    views = open_views(ledger.app, ledger.policies, store_url)
    from projections.views import catch_up

    catch_up(ledger.app, views)
    with views.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE household_pool SET used_fen = used_fen + 1 WHERE "
                             "household_id = (SELECT MIN(household_id) FROM household_pool)")
    problems = verify_views(ledger.app, views, book).problems
    assert {p["view"] for p in problems} == {"household_pool"}
    assert {p["kind"] for p in problems} == {"view_row_differs", "view_row_missing"}


def test_views_compared_by_sqlite_itself_count_what_a_row_by_row_comparison_counts(
        tmp_path: Path, book: PolicyBook, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.usecases import audit

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = ingest(url, book, households=15)
    views = open_views(ledger.app, ledger.policies, url)
    catch_up(ledger.app, views)
    head = ledger.app.recorder.max_notification_id()
    answers: list[int | None] = []
    real = audit._alike_in_sqlite
    monkeypatch.setattr(audit, "_alike_in_sqlite", lambda *a: answers.append(real(*a))
                        or answers[-1])
    by_sqlite = [verify_views(ledger.app, views, book),
                 verify_views(ledger.app, views, book, upto=head // 2)]
    monkeypatch.setattr(audit, "_alike_in_sqlite", lambda *a: None)
    row_by_row = [verify_views(ledger.app, views, book),
                  verify_views(ledger.app, views, book, upto=head // 2)]
    assert answers and None not in answers  # every table was found equal by SQLite
    for fast, slow in zip(by_sqlite, row_by_row, strict=True):
        assert fast.problems == slow.problems == []
        assert fast.checked == slow.checked and fast.checked["rows"] > 0


def test_the_ledger_verifies_as_it_stood_at_an_earlier_position(store_url: str,
                                                                 book: PolicyBook) -> None:
    ledger = ingest(store_url, book)
    head = ledger.app.recorder.max_notification_id()
    decisions = verify_decisions(ledger.app, book, upto=head // 2)
    assert decisions.problems == []
    assert decisions.checked["events"] == head // 2
    views = open_views(ledger.app, ledger.policies, store_url)
    at = verify_views(ledger.app, views, book, upto=head // 2)
    assert at.problems == [] and at.checked["tables"] == 2
    assert "household_pool" in at.checked["skipped"]


def test_the_history_exported_as_commands_rebuilds_an_identical_ledger(
        new_store: Callable[[str], str], book: PolicyBook) -> None:
    ledger = ingest(new_store("a"), book)
    commands = [rc.command for rc in CommandReader().group(read_log(ledger.app))]
    copy = open_ledger(new_store("b"), book)
    results = [copy.execute(c, n) for n, c in enumerate(commands, start=1)]
    assert all(r["status"] == "ok" for r in results)
    original = [(le.event.originator_id, le.event.originator_version, type(le.event),
                 {k: v for k, v in le.event.__dict__.items() if k != "timestamp"})
                for le in read_log(ledger.app)]
    rebuilt = [(le.event.originator_id, le.event.originator_version, type(le.event),
                {k: v for k, v in le.event.__dict__.items() if k != "timestamp"})
               for le in read_log(copy.app)]
    assert rebuilt == original


def test_an_event_recorded_before_decisions_named_a_policy_hash_or_fiscal_part_reads_with_none(
        ) -> None:
    app = LedgerApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    from datetime import date, datetime, timezone

    from domain.money import Money

    at = datetime(2020, 10, 1, tzinfo=timezone.utc)
    person = Person.register(person_key="X", number="X", standard_id=False, name="n",
                             region="341225", birth_date=date(1980, 1, 1), sex=None,
                             residence_permit=False, at=at, recorded_at=at)
    person.enroll(at, year=2021, region="341225", household_head="X", category="general",
                  identity=None, at=at, birth_date=date(1980, 1, 1), prior_insured=False,
                  broken_years=0, back_paid_years=0, policy_id="fuyang-2021",
                  policy_version="1", policy_hash="abc", standard=Money(28000),
                  subsidy=Money(0), subsidy_basis=None, due=Money(28000), covered_from=None,
                  explanation="", fiscal=Money(55000))
    enrolled = person.collect_events()[1]
    stored = app.mapper.to_stored_event(enrolled)
    state = json.loads(plain(stored.state))
    assert state.pop("class_version") == 3
    del state["policy_hash"], state["fiscal"]
    old = type(stored)(originator_id=stored.originator_id,
                       originator_version=stored.originator_version, topic=stored.topic,
                       state=json.dumps(state).encode())
    read = app.mapper.to_domain_event(old)
    assert read.policy_hash is None and read.fiscal is None
    assert read.due == Money(28000)


def _as_recorded_before_terms(state: bytes, drop: tuple[str, ...], version: int) -> bytes:
    """An event's state as the schema before it named these fields wrote it."""
    data = json.loads(plain(state))
    for name in drop:
        del data[name]
    data["class_version"] = version
    if version == 1:
        del data["class_version"]
    return json.dumps(data).encode()


def test_a_store_recorded_before_events_named_caps_and_fiscal_parts_is_read_and_audited_alike(
        store_url: str, book: PolicyBook) -> None:
    ledger = ingest(store_url, book, households=20)
    views = open_views(ledger.app, ledger.policies, store_url)
    catch_up(ledger.app, views)
    expected = view_rows(views)
    views.engine.dispose()
    ledger.app.close()
    with raw_store(store_url) as con:
        for topic, drop, version in (
                ("%Household.Formed", ("per_person_cap", "policy_id", "policy_version"), 1),
                *((f"%Person.{kind}", ("fiscal",), 2) for kind in (
                    "Enrolled", "ContributionPaid", "SubsidyGranted", "Refunded"))):
            for oid, v, state in con.execute("SELECT originator_id, originator_version, state "
                                             "FROM {events} WHERE topic LIKE ?", (topic,)):
                con.execute("UPDATE {events} SET state=? WHERE originator_id=? AND "
                            "originator_version=?",
                            (_as_recorded_before_terms(bytes(state), drop, version), oid, v))
    old = open_ledger(store_url, book)
    formed = [le.event for le in read_log(old.app) if type(le.event).__name__ == "Formed"]
    assert formed and all(e.per_person_cap is None and e.policy_id is None for e in formed)
    assert verify_decisions(old.app, book).problems == []
    rebuilt = open_views(old.app, old.policies, store_url)
    rebuild(old.app, rebuilt)
    assert view_rows(rebuilt) == expected  # the caps and fiscal parts in force, looked up


def test_a_newer_policy_version_moves_neither_recorded_caps_nor_recorded_fiscal_parts(
        store_url: str, book: PolicyBook, tmp_path: Path) -> None:
    ledger = ingest(store_url, book, households=10)
    views = open_views(ledger.app, ledger.policies, store_url)
    catch_up(ledger.app, views)
    before = view_rows(views)
    folder = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, folder)
    path, version = in_force_file(folder, "fuyang-2021")
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(f'version = "{version}"', f'version = "{int(version) + 1}"', 1)
            .replace('per_person_cap = "250.00"', 'per_person_cap = "400.00"', 1)
            .replace('fiscal = "550.00"', 'fiscal = "600.00"', 1),
        encoding="utf-8")
    newer = load_policy_book(folder)
    assert newer.find("341225", 2021).outpatient.per_person_cap.fen == 40000
    assert newer.find("341225", 2021).contribution.fiscal.fen == 60000
    rebuilt = open_views(ledger.app, newer, store_url)
    rebuild(ledger.app, rebuilt)
    assert view_rows(rebuilt) == before


def in_force_file(folder: Path, policy_id: str) -> tuple[Path, str]:
    """The file of a policy folder holding the version of `policy_id` in force, and that
    version."""
    versions = {}
    for path in folder.glob("*.toml"):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        if data["id"] == policy_id:
            versions[path] = data["version"]
    path = max(versions, key=lambda p: version_key(versions[p]))
    return path, versions[path]


def test_a_rebuild_with_the_collector_frozen_gives_the_views_and_the_collector_back(
        tmp_path: Path, book: PolicyBook) -> None:
    import gc

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = ingest(url, book, households=12)
    views = open_views(ledger.app, ledger.policies, url)
    plain_rebuild = rebuild(ledger.app, views)
    rows = {name: _rows(views, name) for name in ("household_pool", "claims_journal")}
    assert gc.isenabled()
    frozen_rebuild = rebuild(ledger.app, views, batch_size=50, freeze_gc=True)
    assert frozen_rebuild == plain_rebuild
    assert {name: _rows(views, name) for name in rows} == rows
    assert gc.isenabled() and gc.get_freeze_count() == 0  # as it was before (ADR 111)


def _rows(views: LedgerViews, table: str) -> list[tuple]:
    with views.engine.connect() as conn:
        return sorted(conn.exec_driver_sql(f"SELECT * FROM {table}").all(), key=repr)
