"""Seed rules of issue 14 through the command line: ingest, the audit re-deciding them, and
both what-if engines re-deciding them under a patch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.builders import HEAD, WIFE, claim, family
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
