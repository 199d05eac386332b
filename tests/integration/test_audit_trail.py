"""The audit trail: a real history in a real SQLite file, read back in log order with the facts,
the decisions, the policy that decided and the seed sentences behind them."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.application.ledger import Ledger
from adapters.composition import open_ledger
from adapters.usecases.trail import DECISION_FIELDS, audit_trail
from domain.errors import Rejected
from domain.policy_book import PolicyBook
from tests.support.builders import make_id, shipped_book
from tests.support.cli import CliResult, run_cli
from tests.support.stores import Stores

#: The file of the Fuyang 2021 version in force (ADR 69).
POLICY_FILE = Path(__file__).resolve().parents[2] / "policies" / "fuyang-2021.v2.toml"
AT = "2020-10-01T10:00:00+08:00"
HEAD = make_id("341225", "19800101", 11)
SPOUSE = make_id("341225", "19820202", 22)
CHILD = make_id("341225", "20100303", 31)
NEIGHBOUR = make_id("341225", "19700707", 41)
NAMES = {HEAD: "张三", SPOUSE: "李四", CHILD: "张小", NEIGHBOUR: "王五"}
MONEY = re.compile(r"^-?[0-9]+\.[0-9]{2}$")
MONEY_FIELDS = {"standard", "subsidy", "due", "paid_total", "credit", "amount", "refunded",
                "paid", "refunded_before", "refunded_total", "expense", "eligible_expense",
                "reimbursable", "reimbursed", "pool_cap", "pool_used_before",
                "pool_remaining_after"}


def trail_of(ledger: Ledger, ref: str, year: int) -> dict:
    return audit_trail(ledger.app, ledger.policies, ref, year)


def claim(claim_id: str, person: str, expense: str, visit: str) -> dict[str, Any]:
    return {"op": "claim", "claim_id": claim_id, "person": person, "visit_date": visit,
            "facility_level": 0, "facility_region": "341225", "expense": expense,
            "at": f"{visit}T09:00:00+08:00"}


def history() -> list[dict[str, Any]]:
    registrations = [{"op": "register", "person": p, "name": n, "region": "341225", "at": AT}
                     for p, n in NAMES.items()]
    return [
        *registrations,
        {"op": "enroll", "person": HEAD, "year": 2021, "region": "341225", "at": AT},
        {"op": "pay", "person": HEAD, "year": 2021, "amount": "280.00", "channel": "wechat",
         "payment_ref": "T-1", "at": AT},
        {"op": "enroll", "person": SPOUSE, "year": 2021, "region": "341225", "at": AT,
         "household_head": HEAD},
        {"op": "pay", "person": SPOUSE, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "T-2", "at": AT},
        {"op": "enroll", "person": CHILD, "year": 2021, "region": "341225", "at": AT,
         "household_head": HEAD, "identity": "tekun"},
        {"op": "enroll", "person": NEIGHBOUR, "year": 2021, "region": "341225", "at": AT},
        {"op": "pay", "person": NEIGHBOUR, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "T-9", "at": AT},
        {"op": "grant_subsidy", "person": SPOUSE, "year": 2021, "identity": "dibao",
         "at": "2020-11-01T10:00:00+08:00"},
        {"op": "refund", "person": SPOUSE, "year": 2021, "reason": "subsidy_eligibility",
         "at": "2020-11-15T10:00:00+08:00"},
        claim("C-1", SPOUSE, "100.01", "2021-03-01"),
        claim("C-9", NEIGHBOUR, "50.00", "2021-03-02"),
        claim("C-2", HEAD, "600.00", "2021-05-01"),
        {"op": "reverse_claim", "claim_id": "C-1", "reason": "billing error",
         "at": "2021-03-05T09:00:00+08:00"},
    ]


@pytest.fixture(scope="module")
def db(module_stores: Stores, book: PolicyBook) -> str:
    url = module_stores.new("ledger")
    ledger = open_ledger(url, book)
    try:
        for command in history():
            result = ledger.execute(command)
            assert result["status"] == "ok", result
    finally:
        ledger.app.close()
    return url


@pytest.fixture
def ledger(db: str, book: PolicyBook) -> Ledger:
    ledger = open_ledger(db, book)
    yield ledger
    ledger.app.close()


def kinds(trail: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in trail["entries"]]


def positions(trail: dict[str, Any]) -> list[int]:
    return [e["position"] for e in trail["entries"]]


def test_a_members_trail_holds_exactly_its_own_facts_in_log_order(ledger: Ledger) -> None:
    trail = trail_of(ledger, SPOUSE, 2021)
    assert trail["scope"] == "person"
    assert trail["household_head"] == HEAD
    assert kinds(trail) == [
        "Registered", "Enrolled", "MemberJoined", "ContributionPaid", "MemberCovered",
        "SubsidyGranted", "Refunded", "OutpatientClaimSettled", "ClaimReversed",
    ]
    assert all(e["person"] == SPOUSE for e in trail["entries"])
    ps = positions(trail)
    assert all(isinstance(p, int) for p in ps)
    assert ps == sorted(ps) and len(set(ps)) == len(ps)
    claims = {e["facts"]["claim_id"] for e in trail["entries"] if "claim_id" in e["facts"]}
    assert claims == {"C-1"}


def test_positions_are_the_events_notification_ids_in_the_log(ledger: Ledger) -> None:
    trail = trail_of(ledger, SPOUSE, 2021)
    notifications = ledger.app.recorder.select_notifications(None, 1000)
    by_event = {(str(n.originator_id), n.originator_version): n.id for n in notifications}
    for e in trail["entries"]:
        assert by_event[(e["aggregate_id"], e["version"])] == e["position"]


def test_the_same_history_in_another_store_gives_the_same_positions(
        ledger: Ledger, book: PolicyBook) -> None:
    memory = open_ledger("memory://", book)
    for command in history():
        assert memory.execute(command)["status"] == "ok"
    for person in (HEAD, SPOUSE):
        stored, in_memory = trail_of(ledger, person, 2021), trail_of(memory, person, 2021)
        assert positions(in_memory) == positions(stored)
        assert kinds(in_memory) == kinds(stored)


def test_a_heads_trail_covers_the_whole_household_and_nothing_else(ledger: Ledger) -> None:
    trail = trail_of(ledger, HEAD, 2021)
    assert trail["scope"] == "household"
    assert trail["members"] == [HEAD, SPOUSE, CHILD]
    entries = trail["entries"]
    assert {e["person"] for e in entries} == {HEAD, SPOUSE, CHILD}
    assert NEIGHBOUR not in json.dumps(trail)
    registered = [e["person"] for e in entries if e["kind"] == "Registered"]
    assert sorted(registered) == sorted([HEAD, SPOUSE, CHILD])
    assert kinds(trail).count("Formed") == 1
    assert kinds(trail).count("Enrolled") == 3
    assert kinds(trail).count("MemberCovered") == 3
    settled = [e["facts"]["claim_id"] for e in entries if e["kind"] == "OutpatientClaimSettled"]
    assert settled == ["C-1", "C-2"]
    ps = positions(trail)
    assert ps == sorted(ps) and len(set(ps)) == len(ps)
    member = trail_of(ledger, SPOUSE, 2021)
    assert set(positions(member)) < set(ps)


def test_the_household_names_the_per_person_cap_and_the_policy_it_was_formed_under(
        ledger: Ledger) -> None:
    formed = [e for e in trail_of(ledger, HEAD, 2021)["entries"] if e["kind"] == "Formed"]
    assert len(formed) == 1
    assert formed[0]["rule"] == ledger.policies.find("341225", 2021).ref
    assert formed[0]["decision"] == {"per_person_cap": "250.00"}
    assert [b["field"] for b in formed[0]["because"]] == ["outpatient.per_person_cap"]
    assert "250" in formed[0]["because"][0]["source"]


def test_each_decision_names_its_policy_and_a_seed_sentence_from_the_policy_file(
        ledger: Ledger, book: PolicyBook) -> None:
    text = POLICY_FILE.read_text(encoding="utf-8")
    policy = book.find("341225", 2021)
    deciding = [e for e in trail_of(ledger, HEAD, 2021)["entries"]
                if e["rule"] and e["kind"] != "Formed"]
    assert {e["kind"] for e in deciding} == {"Enrolled", "ContributionPaid", "SubsidyGranted",
                                            "Refunded", "OutpatientClaimSettled"}
    for e in deciding:
        assert e["rule"] == policy.ref
        assert e["policy_hash"] == policy.content_hash
        assert e["policy_hash_loaded"] == policy.content_hash
        assert e["explanation"]
        sentences = [b["source"] for b in e["because"]
                     if b["source"] and not b["source"].startswith("assumption: ")]
        assert sentences, f"{e['kind']} cites no seed sentence"
        for b in e["because"]:
            if b["source"] is not None:
                assert b["source"].removeprefix("assumption: ") in text
            assert b["decides"]
            assert set(b["decides"]) <= set(e["decision"]) | {"admitted"}


def test_a_claim_is_explained_by_the_outpatient_ratio_cap_and_pooling(ledger: Ledger) -> None:
    trail = trail_of(ledger, SPOUSE, 2021)
    settled = next(e for e in trail["entries"] if e["kind"] == "OutpatientClaimSettled")
    because = {b["field"]: b for b in settled["because"]}
    assert {"outpatient.ratio", "outpatient.per_person_cap", "outpatient.pooling"} <= set(because)
    assert "55%" in because["outpatient.ratio"]["source"]
    assert "reimbursable" in because["outpatient.ratio"]["decides"]
    assert settled["facts"]["expense"] == "100.01"
    assert settled["decision"]["reimbursable"] == "55.01"
    assert settled["decision"]["pooling"] == "household"


def test_a_subsidy_cites_its_identity_rule_and_its_assumption(ledger: Ledger) -> None:
    trail = trail_of(ledger, SPOUSE, 2021)
    granted = next(e for e in trail["entries"] if e["kind"] == "SubsidyGranted")
    assert granted["decision"]["subsidy"] == "140.00"
    assert granted["decision"]["credit"] == "140.00"
    sources = [b["source"] for b in granted["because"]
               if b["field"] == "subsidy.identities.dibao"]
    assert any(s.startswith("assumption: ") and "50%" in s for s in sources)
    refund = next(e for e in trail["entries"] if e["kind"] == "Refunded")
    assert refund["decision"]["amount"] == "140.00"
    assert any(b["field"] == "refund.deadline" and "2020年12月31日" in b["source"]
               for b in refund["because"])


def test_money_is_exact_strings_and_times_are_iso(ledger: Ledger) -> None:
    for e in trail_of(ledger, HEAD, 2021)["entries"]:
        datetime.fromisoformat(e["recorded_at"])
        datetime.fromisoformat(e["at"])
        for values in (e["facts"], e["decision"]):
            for k, v in values.items():
                if k in MONEY_FIELDS and v is not None:
                    assert isinstance(v, str) and MONEY.match(v), (e["kind"], k, v)
                if k in ("visit_date", "covered_from", "covered_to", "birth_date") and v:
                    date.fromisoformat(v)
    assert json.loads(json.dumps(trail_of(ledger, HEAD, 2021)))


def test_facts_and_decisions_are_kept_apart(ledger: Ledger) -> None:
    for e in trail_of(ledger, HEAD, 2021)["entries"]:
        assert not set(e["facts"]) & set(e["decision"])
        assert set(e["decision"]) <= set(DECISION_FIELDS[e["kind"]])


def test_a_reversal_names_the_claimant_and_the_amount_restored(ledger: Ledger) -> None:
    trail = trail_of(ledger, HEAD, 2021)
    reversal = next(e for e in trail["entries"] if e["kind"] == "ClaimReversed")
    assert reversal["person"] == SPOUSE
    assert reversal["facts"]["claim_id"] == "C-1"
    assert reversal["decision"]["amount"] == "55.01"
    assert reversal["rule"] is None and reversal["because"] == []


def test_a_suspension_and_a_terminated_enrollment_are_in_the_members_trail(
        book: PolicyBook) -> None:
    ledger = open_ledger("memory://", book)
    for command in history()[:8]:
        assert ledger.execute(command)["status"] == "ok"
    for command in (
        {"op": "report_employee_insurance", "person": SPOUSE, "year": 2021,
         "at": "2020-11-01T10:00:00+08:00"},
        {"op": "refund", "person": SPOUSE, "year": 2021, "reason": "duplicate_enrollment",
         "at": "2020-11-02T10:00:00+08:00"},
    ):
        assert ledger.execute(command)["status"] == "ok"
    trail = trail_of(ledger, SPOUSE, 2021)
    assert kinds(trail)[-4:] == ["EmployeeInsuranceReported", "MemberSuspended", "Refunded",
                                 "MemberLeft"]
    refund = trail["entries"][-2]
    assert refund["decision"]["terminated"] is True
    assert refund["decision"]["amount"] == "280.00"
    left = trail["entries"][-1]
    assert left["facts"] == {"person": SPOUSE, "reason": "duplicate_enrollment"}


def test_an_unknown_person_or_a_year_not_enrolled_is_rejected(ledger: Ledger) -> None:
    with pytest.raises(Rejected) as unknown:
        trail_of(ledger, make_id("341225", "19900101", 99), 2021)
    assert unknown.value.reason == "unknown_person"
    with pytest.raises(Rejected) as not_enrolled:
        trail_of(ledger, SPOUSE, 2022)
    assert not_enrolled.value.reason == "not_enrolled"


# --- the command line --------------------------------------------------------------------------


def invoke(*args: str) -> CliResult:
    return run_cli(*args, env={"COLUMNS": "400"})


def test_the_cli_prints_the_trail_with_rules_and_seed_sentences(db: str) -> None:
    result = invoke("audit", "trail", SPOUSE, "--year", "2021", "--db", db)
    assert result.exit_code == 0, result.output
    text = result.stdout
    for kind in ("Registered", "Enrolled", "ContributionPaid", "SubsidyGranted", "Refunded",
                 "OutpatientClaimSettled", "ClaimReversed"):
        assert kind in text
    assert shipped_book().find("341225", 2021).ref in text
    assert "报销比例为55%" in text
    assert "reimbursable=55.01" in text
    assert text.count(NAMES[SPOUSE]) == 1  # in the registration entry only


def test_the_cli_prints_the_household_trail_with_names_only_on_registration(db: str) -> None:
    result = invoke("audit", "trail", HEAD, "--year", "2021", "--db", db)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for person in (HEAD, SPOUSE, CHILD):
        holding = [i for i, line in enumerate(lines) if NAMES[person] in line]
        assert len(holding) == 1
        assert "Registered" in lines[holding[0] - 1]
    assert NAMES[NEIGHBOUR] not in result.stdout


def test_the_cli_prints_json(db: str) -> None:
    result = invoke("audit", "trail", SPOUSE, "--year", "2021", "--json", "--db",
                    db)
    assert result.exit_code == 0, result.output
    trail = json.loads(result.stdout)
    assert trail["person"] == SPOUSE
    assert [e["kind"] for e in trail["entries"]][0] == "Registered"


def test_the_cli_exits_1_with_the_reason_for_an_unknown_person(db: str) -> None:
    stranger = make_id("341225", "19900101", 99)
    result = invoke("audit", "trail", stranger, "--year", "2021", "--db", db)
    assert result.exit_code == 1
    assert "error: unknown_person:" in result.stderr
    assert stranger in result.stderr
    result = invoke("audit", "trail", SPOUSE, "--year", "2019", "--db", db)
    assert result.exit_code == 1
    assert "error: not_enrolled:" in result.stderr
