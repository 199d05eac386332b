"""Compact events (ADRs 52, 53 and 98): compressed states, chain rows of position and links, the
stores written before them still opened, extended, queried and verified, and `stats`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.application.ledger import Ledger
from adapters.composition import open_ledger, open_views
from adapters.stores.cipher import create_key
from adapters.stores.urls import store_env
from adapters.usecases.audit import run_audit
from domain.policy_book import PolicyBook
from projections import queries
from projections.views import catch_up
from tests.support.builders import HEAD, WIFE, claim, family
from tests.support.cli import run_cli
from tests.support.former import DeflateLedgerApplication, FormerLedgerApplication
from tests.support.oracles import household_view
from tests.support.states import forge_claim, forged_county, plain
from tests.support.stores import raw_store

KEY = b"county audit key, kept by the fund office"


def run(ledger: Ledger, commands: list[dict]) -> list[dict]:
    return list(ledger.execute_lines([json.dumps(c, ensure_ascii=False) for c in commands]))


def states(url: str) -> list[bytes]:
    with raw_store(url) as con:
        return [bytes(s) for (s,) in con.execute("SELECT state FROM {events} ORDER BY {pos}")]


def chain_columns(url: str) -> int:
    with raw_store(url) as con:
        return len(con.execute("SELECT * FROM {chain} LIMIT 1")[0])


def test_a_new_store_keeps_every_state_compressed_and_chain_rows_of_position_and_links(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book, audit_key=KEY)
    assert all(r["status"] == "ok" for r in run(ledger, [*family(), claim("C-1", HEAD, "9.00")]))
    ledger.app.close()
    stored = states(store_url)
    assert stored and all(s[:1] == b"\x02" for s in stored)
    assert all(json.loads(plain(s)) for s in stored)
    assert sum(map(len, stored)) * 3 < sum(len(plain(s)) for s in stored)
    with raw_store(store_url) as con:
        assert con.chain_format() == "2"
    assert chain_columns(store_url) == 3  # notification id, link, log link


def test_with_the_cipher_key_states_are_compressed_before_they_are_encrypted(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book, audit_key=KEY, cipher_key=create_key())
    run(ledger, family())
    cipher = ledger.app.mapper.cipher
    stored = states(store_url)
    decrypted = [cipher.decrypt(s) for s in stored]
    ledger.app.close()
    assert all(d[:1] == b"\x02" for d in decrypted)
    assert all(len(s) < len(plain(d)) for s, d in zip(stored, decrypted, strict=True))


def written_by_an_older_ledger_then_extended_and_audited(
        older: type, store_url: str, book: PolicyBook) -> tuple[int, dict, list[bytes]]:
    """A family and a claim written by `older` (an earlier ledger's application), two claims
    more by the current ledger, the household compared with its aggregate and the store
    audited: returns how many states the older ledger wrote, the audit and every state."""
    earlier = Ledger(older(env=store_env(store_url), audit_key=KEY), book)
    assert all(r["status"] == "ok" for r in run(earlier, [*family(),
                                                          claim("C-1", HEAD, "100.00")]))
    earlier.app.close()
    written_before = len(states(store_url))

    ledger = open_ledger(store_url, book, audit_key=KEY)
    results = run(ledger, [claim("C-2", WIFE, "300.00"), claim("C-3", HEAD, "50.00")])
    assert [r["status"] for r in results] == ["ok", "ok"]
    views = open_views(ledger.app, book, store_url)
    catch_up(ledger.app, views)
    try:
        assert queries.household(views.engine, HEAD, 2021, personal=views.personal) == \
            household_view(ledger, HEAD, 2021)
        report = run_audit(ledger.app, book, views)
    finally:
        views.engine.dispose()
        ledger.app.close()
    return written_before, report, states(store_url)


def test_a_store_of_deflated_states_is_extended_with_zstandard_ones_and_audited_clean(
        store_url: str, book: PolicyBook) -> None:
    written_before, report, stored = written_by_an_older_ledger_then_extended_and_audited(
        DeflateLedgerApplication, store_url, book)
    assert report["clean"], report
    assert {s[:1] for s in stored[:written_before]} == {b"\x01"}
    assert {s[:1] for s in stored[written_before:]} == {b"\x02"}


def test_a_store_written_in_the_former_format_is_extended_queried_and_audited_clean(
        store_url: str, book: PolicyBook, tmp_path: Path) -> None:
    written_before, report, stored = written_by_an_older_ledger_then_extended_and_audited(
        FormerLedgerApplication, store_url, book)
    assert report["clean"], report
    assert report["chain"]["checked"]["events"] == len(stored)
    assert all(s[:1] == b"{" for s in stored[:written_before])
    assert all(s[:1] == b"\x02" for s in stored[written_before:])
    with raw_store(store_url) as con:
        assert con.chain_format() == "1"  # the store keeps the chain rows it had
    assert chain_columns(store_url) == 5
    done = run_cli("audit", "verify", "--json", "--db", store_url, cwd=tmp_path,
                   env={"BENEFITPOOL_AUDIT_KEY": KEY.decode()})
    assert done.exit_code == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["clean"] is True


def test_stats_counts_the_events_by_type_and_the_bytes_of_the_event_store_and_views_apart(
        store_url: str, book: PolicyBook, tmp_path: Path) -> None:
    ledger = open_ledger(store_url, book, audit_key=KEY)
    run(ledger, [*family(), claim("C-1", HEAD, "9.00"), claim("C-2", WIFE, "19.00")])
    views = open_views(ledger.app, book, store_url)
    catch_up(ledger.app, views)
    views.engine.dispose()
    head = ledger.app.recorder.max_notification_id()
    ledger.app.close()
    done = run_cli("stats", "--db", store_url, "--json", cwd=tmp_path,
                   env={"BENEFITPOOL_AUDIT_KEY": KEY.decode()})
    assert done.exit_code == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["events"]["count"] == head
    assert sum(t["count"] for t in report["events"]["by_type"]) == head
    assert {"OutpatientClaimSettled", "Registered"} <= {
        t["type"].rsplit(".", 1)[-1] for t in report["events"]["by_type"]}
    parts = {r["part"] for r in report["relations"]}
    assert parts == {"event store", "views"}
    names = {r["name"] for r in report["relations"] if r["part"] == "event store"}
    assert "event_chain" in names and names & {"stored_events", "benefitpool_events"}
    totals = report["totals"]
    assert totals["all"]["bytes"] == totals["event store"]["bytes"] + totals["views"]["bytes"]
    assert totals["all"]["bytes"] == sum(r["bytes"] for r in report["relations"])
    state = report["state"]
    assert state["sampled_events"] == head
    assert state["sampled_stored_bytes_per_event"] < state["sampled_raw_bytes_per_event"]


def test_stats_prints_a_table_of_the_bytes_per_event(store_url: str, book: PolicyBook,
                                                     tmp_path: Path) -> None:
    ledger = open_ledger(store_url, book, audit_key=KEY)
    run(ledger, family())
    ledger.app.close()
    done = run_cli("stats", "--db", store_url, cwd=tmp_path,
                   env={"BENEFITPOOL_AUDIT_KEY": KEY.decode()})
    assert done.exit_code == 0, done.stdout + done.stderr
    assert "event store" in done.stdout and "bytes/event" in done.stdout
    assert "raw" in done.stdout


def test_an_event_edited_into_one_without_a_field_is_a_finding_not_a_crash(
        store_url: str, book: PolicyBook) -> None:
    position = forged_county(store_url, book, KEY, lambda data: data.pop("person"))
    ledger = open_ledger(store_url, book, audit_key=KEY)
    try:
        report = run_audit(ledger.app, book)
    finally:
        ledger.app.close()
    assert not report["clean"]
    assert ("undecodable_event", position) in {
        (p["kind"], p.get("position")) for p in report["decisions"]["problems"]}
    assert position in {p["position"] for p in report["chain"]["problems"]}


def test_an_event_edited_into_values_of_the_wrong_type_stops_the_re_decisions_with_a_finding(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book, audit_key=KEY)
    run(ledger, [*family(), claim("C-1", HEAD, "9.00"), claim("C-2", WIFE, "19.00")])
    ledger.app.close()
    position = forge_claim(store_url, lambda data: data.update(person=["not", "an", "id"]))
    ledger = open_ledger(store_url, book, audit_key=KEY)
    try:
        report = run_audit(ledger.app, book)
    finally:
        ledger.app.close()
    assert not report["clean"]
    found = {(p["kind"], p.get("position")) for p in report["decisions"]["problems"]}
    assert ("replay_stopped", position) in found


def _audited_both_ways(url: str, book: PolicyBook) -> tuple[dict, dict]:
    """The audit with its views, its decisions and rebuilt views from one read of the log
    (ADR 109), and from two reads."""
    ledger = open_ledger(url, book, audit_key=KEY)
    views = open_views(ledger.app, ledger.policies, url)
    try:
        once = run_audit(ledger.app, book, views)
        twice = run_audit(ledger.app, book, views,
                          fresh_views=lambda app, fresh, stop: catch_up(app, fresh, stop=stop))
    finally:
        views.engine.dispose()
        ledger.app.close()
    return once, twice


@pytest.mark.parametrize("forge", [None, "view", "no field", "wrong type"])
def test_one_read_of_the_log_for_decisions_and_views_reports_what_two_reads_report(
        store_url: str, book: PolicyBook, forge: str | None) -> None:
    ledger = open_ledger(store_url, book, audit_key=KEY)
    run(ledger, [*family(), claim("C-1", HEAD, "9.00"), claim("C-2", WIFE, "19.00")])
    views = open_views(ledger.app, ledger.policies, store_url)
    catch_up(ledger.app, views)
    if forge == "view":
        with views.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE household_pool SET used_fen = used_fen + 1")
    views.engine.dispose()
    ledger.app.close()
    if forge == "no field":
        forge_claim(store_url, lambda data: data.pop("person"))
    elif forge == "wrong type":
        forge_claim(store_url, lambda data: data.update(person=["not", "an", "id"]))
    once, twice = _audited_both_ways(store_url, book)
    assert once == twice
    assert once["clean"] is (forge is None)
    if forge in (None, "view"):
        assert once["views"]["checked"]["rows"] > 0
    else:  # the forged event stops the views' rebuild where it stands, both ways
        assert {p["kind"] for p in once["views"]["problems"]} == {"views_stopped"}
