"""`audit verify`'s findings name whom they are about — the person, the household (its head
and year) or the claim — and write every stream id one way, the UUID with dashes (issue 16,
ADR 76)."""

from __future__ import annotations

import json
import re
from uuid import UUID

from adapters.composition import open_ledger, open_views
from adapters.usecases.audit import run_audit, verify_decisions, verify_views
from domain.identity import number_of
from domain.policy_book import PolicyBook
from projections.views import catch_up
from tests.integration.test_replay_and_audit import ingest
from tests.support.states import plain
from tests.support.stores import raw_store

DASHED = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX32 = re.compile(r"\b[0-9a-f]{32}\b")


def _edit_last_settled_claim(store_url: str) -> tuple[str, int, dict]:
    """Add one fen to the last settled claim's reimbursement behind the ledger's back."""
    with raw_store(store_url) as con:
        row = con.one("SELECT originator_id, originator_version, state FROM {events} WHERE "
                      "topic LIKE '%OutpatientClaimSettled' ORDER BY originator_version DESC "
                      "LIMIT 1")
        state = json.loads(plain(row[2]))
        state["reimbursed"]["_data_"] += 1
        con.execute("UPDATE {events} SET state = ? WHERE originator_id = ? AND "
                    "originator_version = ?", (json.dumps(state).encode(), row[0], row[1]))
    return str(UUID(str(row[0]))), row[1], state


def test_a_changed_claim_decision_names_the_household_its_year_and_the_claim(
        store_url: str, book: PolicyBook) -> None:
    ledger = ingest(store_url, book)
    ledger.app.close()
    stream, version, state = _edit_last_settled_claim(store_url)
    ledger = open_ledger(store_url, book)
    household = ledger.app.get_or_none(UUID(stream))
    found = [p for p in verify_decisions(ledger.app, book).problems
             if p["kind"] == "decision_differs"]
    assert found
    first = found[0]
    assert first["stream"] == stream and DASHED.match(first["stream"])
    assert first["household_head"] == number_of(household.head)
    assert first["year"] == household.year
    assert first["claim"] == state["claim_id"]


def test_a_changed_view_row_names_the_household_by_its_head_and_year(
        store_url: str, book: PolicyBook) -> None:
    ledger = ingest(store_url, book)
    views = open_views(ledger.app, ledger.policies, store_url)
    catch_up(ledger.app, views)
    with views.engine.connect() as conn:
        hid, head, year = conn.exec_driver_sql(
            "SELECT household_id, head, year FROM household_pool ORDER BY household_id "
            "LIMIT 1").one()
        claim, person = conn.exec_driver_sql(
            "SELECT claim_id, person FROM claims_journal ORDER BY claim_id LIMIT 1").one()
    with views.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE household_pool SET used_fen = used_fen + 1 WHERE "
                             f"household_id = '{hid}'")
        conn.exec_driver_sql("UPDATE claims_journal SET reimbursed_fen = reimbursed_fen + 1 "
                             f"WHERE claim_id = '{claim}'")
    problems = verify_views(ledger.app, views, book).problems
    pools = [p for p in problems if p["table"] == "household_pool"]
    assert pools and all(p["household"] == hid and DASHED.match(p["household"])
                         for p in pools)
    assert all(p["household_head"] == number_of(head) and p["year"] == year for p in pools)
    assert all(f"household of {number_of(head)} for {year}" in p["message"] for p in pools)
    claims = [p for p in problems if p["table"] == "claims_journal"]
    assert claims and all(p["claim"] == claim and p["person"] == number_of(person)
                          for p in claims)
    assert all(f"claim {claim}" in p["message"] for p in claims)


def test_every_finding_of_a_tampered_store_writes_its_stream_id_with_dashes(
        store_url: str, book: PolicyBook) -> None:
    ledger = ingest(store_url, book)
    ledger.app.close()
    stream, _, _ = _edit_last_settled_claim(store_url)
    ledger = open_ledger(store_url, book)
    report = run_audit(ledger.app, book)
    chain = report["chain"]["problems"]
    assert chain and all(p["originator_id"] == p["stream"] for p in chain)
    problems = [*chain, *report["decisions"]["problems"]]
    streams = {p["stream"] for p in problems if p.get("stream")}
    assert stream in streams and all(DASHED.match(s) for s in streams)
    assert not any(HEX32.search(p["message"]) for p in problems), problems
