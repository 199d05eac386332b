"""Policy versions through the command line (ADR 69): both versions of a policy issue 14
changed are listed, the new one in force, and a store ingested under the earlier files
audits clean under the shipped ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from adapters.stores.policy_files import DEFAULT_POLICY_DIR
from tests.support.builders import HEAD, WIFE, claim, family
from tests.support.cli import CliResult, run_cli

KEY = {"BENEFITPOOL_AUDIT_KEY": "e2e-secret-audit-key-0001"}
CHANGED = ("fuyang-2021", "gaizhou-2025", "hunan-2023", "hunan-2024", "lishui-2020",
           "lishui-jingning-2020", "lishui-liandu-2020", "lishui-longquan-2020",
           "yangcheng-2022")


def run(folder: Path, *args: str) -> CliResult:
    return run_cli(*args, cwd=folder, env={**KEY, "BENEFITPOOL_DB": "sqlite:///ledger.db"})


def test_policy_list_shows_both_versions_of_each_changed_policy_the_new_one_in_force(
        tmp_path: Path) -> None:
    listed = run(tmp_path, "policy", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    versions: dict[str, dict[str, bool]] = {}
    for row in json.loads(listed.stdout):
        versions.setdefault(row["id"], {})[row["version"]] = row["in_force"]
    for policy_id in CHANGED:
        assert versions[policy_id] == {"1": False, "2": True}, policy_id
    table = run(tmp_path, "policy", "list").stdout
    assert table.count("fuyang-2021") == 2


def test_a_store_ingested_under_the_earlier_files_audits_clean_under_the_shipped_ones(
        tmp_path: Path) -> None:
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for policy_id in CHANGED:
        shutil.copy(DEFAULT_POLICY_DIR / f"{policy_id}.toml", earlier)
    online_refund = {"op": "refund", "person": WIFE, "year": 2021, "reason": "duplicate_payment",
                     "channel": "alipay", "at": "2020-10-02T10:00:00+08:00"}
    overpaid = {"op": "pay", "person": WIFE, "year": 2021, "amount": "280.00",
                "channel": "cash", "payment_ref": "P9", "at": "2020-10-02T09:00:00+08:00"}
    lines = [*family(), overpaid, online_refund, claim("C1", HEAD, "80.00")]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(c) for c in lines) + "\n")
    done = run(tmp_path, "ingest", "in.jsonl", "--policies", str(earlier), "--results",
               "out.jsonl")
    assert done.exit_code == 0, done.stderr
    results = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" for r in results), results
    assert results[-2]["rule"] == "fuyang-2021@1"

    verify = run(tmp_path, "audit", "verify", "--json")
    assert verify.exit_code == 0, verify.stdout
    assert json.loads(verify.stdout)["clean"] is True

    again = {**online_refund, "at": "2020-10-03T10:00:00+08:00"}
    (tmp_path / "more.jsonl").write_text(json.dumps(overpaid | {"payment_ref": "P10"}) + "\n"
                                         + json.dumps(again) + "\n")
    done = run(tmp_path, "ingest", "more.jsonl", "--results", "more-out.jsonl")
    assert done.exit_code == 0, done.stderr
    more = [json.loads(x) for x in (tmp_path / "more-out.jsonl").read_text().splitlines()]
    assert [(r["status"], r["reason"]) for r in more] == [
        ("ok", None), ("rejected", "channel_not_allowed")]
    assert "fuyang-2021@2" in more[1]["message"]
