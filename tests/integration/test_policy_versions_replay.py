"""A store decided under the policy files as they were before issue 14's rules (ADR 69): it
audits clean under the current files, its views rebuild alike, and new commands on it are
decided by the new versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from adapters.composition import open_ledger, open_views
from adapters.generator import generate_county
from adapters.stores.policy_files import DEFAULT_POLICY_DIR, load_policy_book
from adapters.usecases.audit import verify_decisions
from domain.policy_book import PolicyBook
from projections.views import catch_up, rebuild
from tests.support.builders import make_id
from tests.support.views import view_rows

#: The policies shipped before issue 14, each in the file that kept its version 1.
EARLIER = ("fuyang-2021", "gaizhou-2025", "hunan-2023", "hunan-2024", "lishui-2020",
           "lishui-jingning-2020", "lishui-liandu-2020", "lishui-longquan-2020",
           "yangcheng-2022")
#: Generated counties, among them children that extend a parent (hunan-2023, Longquan).
COUNTIES = ("fuyang-2021", "hunan-2023", "lishui-longquan-2020")
FUNAN = "341225"
HOLDER = make_id(FUNAN, "19600301", 2)
INSURED = make_id(FUNAN, "19850301", 1)
TWICE = make_id(FUNAN, "19870501", 3)
LATER = make_id(FUNAN, "19900301", 4)


def earlier_book(tmp_path: Path) -> PolicyBook:
    """The policy folder as it was before issue 14: the version 1 files alone (their content
    hashes are the released ones, tests/unit/test_policy_versions.py)."""
    folder = tmp_path / "earlier-policies"
    folder.mkdir()
    for policy_id in EARLIER:
        shutil.copy(DEFAULT_POLICY_DIR / f"{policy_id}.toml", folder)
    book = load_policy_book(folder)
    assert {p.version for p in book} == {"1"}
    return book


def at(day: str) -> str:
    return f"{day}T09:00:00+08:00"


def accepted_before_issue_14() -> list[dict[str, Any]]:
    """Lines the earlier rules accepted and issue 14's rules refuse: an employee account paying
    for someone unrelated (ADR 63), a Fuyang refund requested online (ADR 67)."""
    return [
        {"op": "register", "person": HOLDER, "name": "乙", "region": FUNAN,
         "at": at("2020-09-10")},
        {"op": "register", "person": INSURED, "name": "甲", "region": FUNAN,
         "at": at("2020-09-10")},
        {"op": "enroll", "person": INSURED, "year": 2021, "region": FUNAN, "at": at("2020-09-10")},
        {"op": "pay", "person": INSURED, "year": 2021, "amount": "280.00",
         "channel": "employee_account", "payment_ref": "V-1", "payer": HOLDER,
         "payer_relation": "other", "at": at("2020-09-10")},
        {"op": "register", "person": TWICE, "name": "丙", "region": FUNAN, "at": at("2020-09-10")},
        {"op": "enroll", "person": TWICE, "year": 2021, "region": FUNAN, "at": at("2020-09-10")},
        {"op": "pay", "person": TWICE, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "V-2", "at": at("2020-09-10")},
        {"op": "pay", "person": TWICE, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "V-3", "at": at("2020-09-11")},
        {"op": "refund", "person": TWICE, "year": 2021, "reason": "duplicate_payment",
         "channel": "wechat", "at": at("2020-09-12")},
    ]


def execute(ledger: Any, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(ledger.execute_lines([json.dumps(c, ensure_ascii=False) for c in commands]))


def record_under_the_earlier_policies(url: str, earlier: PolicyBook) -> Any:
    ledger = open_ledger(url, earlier)
    for regime in COUNTIES:
        results = execute(ledger, list(generate_county(15, regime, 5, earlier)))
        assert any(r["status"] == "ok" for r in results)
    results = execute(ledger, accepted_before_issue_14())
    assert [r["status"] for r in results] == ["ok"] * len(results), results
    assert results[3]["rule"] == "fuyang-2021@1" and results[-1]["rule"] == "fuyang-2021@1"
    return ledger


def test_a_store_decided_before_issue_14_audits_clean_and_rebuilds_its_views_alike(
        store_url: str, tmp_path: Path, book: PolicyBook) -> None:
    earlier = earlier_book(tmp_path)
    ledger = record_under_the_earlier_policies(store_url, earlier)
    views = open_views(ledger.app, earlier, store_url)
    catch_up(ledger.app, views)
    before = view_rows(views)

    findings = verify_decisions(ledger.app, book)
    assert findings.problems == []
    assert findings.checked["decisions"] > 100

    rebuilt = open_views(ledger.app, book, store_url)
    rebuild(ledger.app, rebuilt)
    assert view_rows(rebuilt) == before


def test_new_commands_on_a_store_decided_before_issue_14_are_decided_by_the_new_versions(
        store_url: str, tmp_path: Path, book: PolicyBook) -> None:
    record_under_the_earlier_policies(store_url, earlier_book(tmp_path))
    ledger = open_ledger(store_url, book)
    results = execute(ledger, [
        {"op": "register", "person": LATER, "name": "丁", "region": FUNAN,
         "at": at("2020-10-10")},
        {"op": "enroll", "person": LATER, "year": 2021, "region": FUNAN, "at": at("2020-10-10")},
        {"op": "pay", "person": LATER, "year": 2021, "amount": "280.00",
         "channel": "employee_account", "payment_ref": "W-1", "payer": HOLDER,
         "payer_relation": "other", "at": at("2020-10-10")},
        {"op": "pay", "person": TWICE, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "W-2", "at": at("2020-10-11")},
        {"op": "refund", "person": TWICE, "year": 2021, "reason": "duplicate_payment",
         "channel": "wechat", "at": at("2020-10-12")},
    ])
    in_force = book.find(FUNAN, 2021)
    assert in_force.ref == "fuyang-2021@2"
    assert results[1]["rule"] == in_force.ref
    assert [(r["status"], r["reason"]) for r in results[2:]] == [
        ("rejected", "payer_not_allowed"), ("ok", None), ("rejected", "channel_not_allowed")]

    findings = verify_decisions(ledger.app, book)
    assert findings.problems == []


@pytest.mark.parametrize("policy_id", EARLIER)
def test_a_version_1_reads_the_same_beside_the_version_2_files_as_alone(
        tmp_path: Path, book: PolicyBook, policy_id: str) -> None:
    earlier = earlier_book(tmp_path)
    kept = book.get(policy_id, "1")
    assert kept is not None
    assert kept == earlier.get(policy_id, "1")
