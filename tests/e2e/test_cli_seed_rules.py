"""Seed rules of issue 14 through the command line: ingest, the audit re-deciding them, and
both what-if engines re-deciding them under a patch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.builders import HEAD, WIFE, claim, family, make_id
from tests.support.cli import CliResult, run_cli

KEY = {"BENEFITPOOL_AUDIT_KEY": "e2e-secret-audit-key-0001"}


def run(folder: Path, *args: str) -> CliResult:
    return run_cli(*args, cwd=folder, env={**KEY, "BENEFITPOOL_DB": "sqlite:///ledger.db"})


def ingest(folder: Path, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (folder / "in.jsonl").write_text("\n".join(json.dumps(c) for c in commands) + "\n")
    done = run(folder, "ingest", "in.jsonl", "--results", "out.jsonl")
    assert done.exit_code == 0, done.stderr
    return [json.loads(line) for line in (folder / "out.jsonl").read_text().splitlines()]


def test_a_claim_left_after_a_certified_third_party_share_is_audited_and_rerun_alike(
        tmp_path: Path) -> None:
    # 003: 经相关部门认定、按比例剔除应由第三人负担后的医疗费用 (are in the scope)
    shared = {**claim("T1", WIFE, "100.00"), "cause": "third_party",
              "third_party_share": "0.70"}
    uncertified = {**claim("T2", WIFE, "100.00"), "cause": "third_party"}
    results = ingest(tmp_path, [*family(), shared, uncertified, claim("O1", HEAD, "50.00")])
    assert [(r["status"], r["reason"]) for r in results[-3:]] == [
        ("ok", None), ("rejected", "excluded_cause"), ("ok", None)]
    assert (results[-3]["eligible_expense"], results[-3]["reimbursed"]) == ("30.00", "16.50")

    verify = run(tmp_path, "audit", "verify", "--json")
    assert verify.exit_code == 0, verify.stdout
    assert json.loads(verify.stdout)["clean"] is True

    (tmp_path / "patch.toml").write_text('[outpatient]\nratio = "0.70"\n')
    whatif = run(tmp_path, "whatif", "--policy", "patch.toml", "--region", "341225", "--year",
                 "2021", "--engine", "both", "--json")
    assert whatif.exit_code == 0, whatif.stdout + whatif.stderr
    summary = json.loads(whatif.stdout)
    assert summary["engines_agree"] is True
    # 0.55 x (30 + 50) before, 0.70 x (30 + 50) after: the share left, never the whole 100
    assert (summary["baseline_reimbursed"], summary["reform_reimbursed"]) == ("44.00", "56.00")


def test_a_resent_claim_with_another_third_party_share_is_a_conflict(tmp_path: Path) -> None:
    shared = {**claim("T1", WIFE, "100.00"), "cause": "third_party",
              "third_party_share": "0.7"}
    results = ingest(tmp_path, [*family(), shared, {**shared, "third_party_share": "0.700"},
                                {**shared, "third_party_share": "0.6"}])
    assert [r.get("duplicate") for r in results[-3:-1]] == [None, True]
    assert results[-1]["reason"] == "duplicate_claim_conflict"


GAIZHOU = "210881"


def test_the_lifted_out_of_poverty_rate_divides_by_the_roster_not_by_who_enrolled(
        tmp_path: Path) -> None:
    # 004: 确保脱贫人口参保率不低于99%; 002: 以相关部门提供救助花名为准
    people = [make_id(GAIZHOU, "19700101", n) for n in range(1, 5)]
    at = "2024-11-05"
    commands: list[dict[str, Any]] = [
        {"op": "register", "person": p, "name": "某", "region": GAIZHOU, "at": at}
        for p in people]
    commands += [{"op": "recognise_identity", "person": p, "year": 2025, "identity": "monitored",
                  "region": GAIZHOU, "source": "rural_revitalisation", "at": at}
                 for p in people]
    commands += [{"op": "enroll", "person": p, "year": 2025, "region": GAIZHOU, "at": at}
                 for p in people[:3]]
    commands += [
        {"op": "recognise_identity", "person": people[0], "year": 2025, "identity": "monitored",
         "region": GAIZHOU, "at": at},
        {"op": "recognise_identity", "person": people[3], "year": 2025, "identity": "dibao",
         "region": GAIZHOU, "at": at},
        {"op": "enroll", "person": people[3], "year": 2025, "region": GAIZHOU, "at": at,
         "identity": "dibao"},
    ]
    results = ingest(tmp_path, commands)
    assert all(r["status"] == "ok" for r in results[:11]), results
    assert [results[8]["subsidy"], results[8]["due"]] == ["445.00", "0.00"]  # monitored: full
    assert "already recognised" in results[11]["message"]
    assert [r["reason"] for r in results[12:]] == ["identity_conflict", "identity_conflict"]

    report = run(tmp_path, "report", "enrollment", "--year", "2025", "--json")
    assert report.exit_code == 0, report.stderr
    rows = {r["identity"]: r for r in json.loads(report.stdout)}
    monitored = rows["monitored"]
    assert (monitored["recognised"], monitored["covered_recognised"], monitored["enrolled"],
            monitored["rate_recognised"], monitored["met_on"]) == (4, 3, 3, "0.7500",
                                                                   "rate_recognised")
    lifted = rows["lifted_out_of_poverty"]
    assert (lifted["rate_recognised"], lifted["met_on"], lifted["met"]) == (
        "0.7500", "rate_recognised", False)
    assert rows["*"]["rate_recognised"] is None and rows["*"]["covered_of_registered"]

    verify = run(tmp_path, "audit", "verify", "--json")
    assert json.loads(verify.stdout)["clean"] is True, verify.stdout

    # both engines re-decide the enrollments under a smaller subsidy for the recognised
    (tmp_path / "half.toml").write_text('[subsidy.identities.monitored]\nkind = "percent"\n'
                                        'percent = "50"\n')
    whatif = run(tmp_path, "whatif", "--policy", "half.toml", "--region", GAIZHOU, "--year",
                 "2025", "--engine", "both", "--json")
    assert whatif.exit_code == 0, whatif.stdout + whatif.stderr
    summary = json.loads(whatif.stdout)
    assert summary["engines_agree"] is True
    assert (summary["contributions_due_baseline"], summary["contributions_due_reform"]) == (
        "0.00", "667.50")  # three recognised enrollments now owe half of 445.00 each


def test_a_refund_requested_online_is_refused_and_the_request_channel_recorded(
        tmp_path: Path) -> None:
    # 001: 城乡居民基本医疗保险参保缴费不支持线上退费
    again = {"op": "pay", "person": WIFE, "year": 2021, "amount": "280.00",
             "channel": "alipay", "payment_ref": "P-twice", "at": "2020-10-02"}
    refund = {"op": "refund", "person": WIFE, "year": 2021, "reason": "duplicate_payment",
              "at": "2020-10-09"}
    results = ingest(tmp_path, [*family(), again, {**refund, "channel": "alipay"},
                                {**refund, "channel": "bank_counter"}])
    assert [(r["status"], r["reason"]) for r in results[-2:]] == [
        ("rejected", "channel_not_allowed"), ("ok", None)]
    assert results[-1]["refunded"] == "280.00"
    done = run(tmp_path, "replay", "--out", "history.jsonl")
    assert done.exit_code == 0, done.stderr
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text()
               .splitlines()]
    refunds = [c for c in history if c["op"] == "refund"]
    assert [c.get("channel") for c in refunds] == ["bank_counter"]


def test_a_late_claim_is_decided_on_arrival_and_the_two_clocks_answer_differently(
        tmp_path: Path) -> None:
    # ADR 68: the pool is used in the order claims arrive. A March visit settled on 5 March
    # reaches the ledger after an April visit took most of the pool: it gets what was left.
    april = {**claim("B-april", HEAD, "800.00"), "visit_date": "2021-04-01",
             "at": "2021-04-02T09:00:00+08:00"}
    march = {**claim("A-march", WIFE, "200.00"), "visit_date": "2021-03-01",
             "at": "2021-03-05T09:00:00+08:00"}
    first = ingest(tmp_path, [*family(), april])
    assert first[-1]["reimbursed"] == "440.00"  # 0.55 x 800 of the pool of 2 x 250
    position = json.loads(run(tmp_path, "audit", "verify", "--json").stdout)["position"]
    (tmp_path / "late.jsonl").write_text(json.dumps(march) + "\n")
    late = run(tmp_path, "ingest", "late.jsonl", "--results", "late-out.jsonl")
    assert late.exit_code == 0, late.stderr
    decided = json.loads((tmp_path / "late-out.jsonl").read_text())
    assert (decided["reimbursable"], decided["reimbursed"]) == ("110.00", "60.00")

    def household(*bound: str) -> dict[str, Any]:
        done = run(tmp_path, "household", HEAD, "--year", "2021", "--json", *bound)
        assert done.exit_code == 0, done.stderr
        return json.loads(done.stdout)

    by_date = household("--as-of", "2021-03-31")
    by_log = household("--at-position", str(position))
    now = household()
    assert (by_date["clock"], by_date["used"], by_date["remaining"]) == (
        "business_date", "60.00", "440.00")  # dated by 31 March: the late claim alone
    assert (by_log["clock"], by_log["at_position"], by_log["used"], by_log["remaining"]) == (
        "log_position", position, "440.00", "60.00")  # as the ledger stood: April's claim
    assert (now["clock"], now["used"], now["remaining"]) == ("latest", "500.00", "0.00")
    table = run(tmp_path, "household", HEAD, "--year", "2021", "--as-of", "2021-03-31")
    assert "clock: business date" in table.stdout and "as of 2021-03-31" in table.stdout
    table = run(tmp_path, "household", HEAD, "--year", "2021", "--at-position", str(position))
    assert "clock: log position" in table.stdout
    assert json.loads(run(tmp_path, "audit", "verify", "--json").stdout)["clean"] is True


def test_both_what_if_engines_re_decide_who_may_enroll_where(tmp_path: Path) -> None:
    # 000: 其三是与莲都区户籍城乡居民形成婚姻关系的非本区户籍居民
    liandu = "331102"
    spouse = make_id("341225", "19910101", 6)
    local = make_id(liandu, "19900101", 7)
    at = "2019-11-02"
    ingest(tmp_path, [
        {"op": "register", "person": spouse, "name": "配", "region": liandu, "at": at,
         "hukou_region": "341225", "spouse_region": liandu},
        {"op": "register", "person": local, "name": "本", "region": liandu, "at": at,
         "hukou_region": liandu},
        *({"op": "enroll", "person": p, "year": 2020, "region": liandu, "at": at}
          for p in (local, spouse)),
    ])
    (tmp_path / "no-spouses.toml").write_text("[eligibility]\nspouses_of_locals = false\n")
    whatif = run(tmp_path, "whatif", "--policy", "no-spouses.toml", "--region", liandu,
                 "--year", "2020", "--engine", "both", "--json")
    assert whatif.exit_code == 0, whatif.stdout + whatif.stderr
    summary = json.loads(whatif.stdout)
    assert summary["engines_agree"] is True
    assert (summary["contributions_due_baseline"], summary["contributions_due_reform"]) == (
        "900.00", "450.00")  # the spouse's enrollment is refused under the reform
