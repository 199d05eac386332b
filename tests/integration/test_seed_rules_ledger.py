"""Seed rules of issue 14 end to end: contract commands through the ledger on a SQLite store,
then the audit re-deciding the whole history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from adapters.composition import open_ledger, open_views
from adapters.generator import generate_county
from adapters.usecases.audit import verify_decisions
from domain.policy_book import PolicyBook
from domain.rules.eligibility import PLACE_FIELDS
from projections import tables
from projections.views import catch_up, rebuild
from tests.support.builders import make_id
from tests.support.states import plain
from tests.support.stores import raw_store

GAIZHOU = "210881"


def run(tmp_path: Path, book: PolicyBook, commands: list[dict[str, Any]]):
    """Applies the commands to a fresh store; the ledger and the results."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", book)
    return ledger, list(ledger.execute_lines([json.dumps(c) for c in commands]))


def audit_is_clean(ledger, book: PolicyBook) -> None:
    findings = verify_decisions(ledger.app, book)
    assert findings.problems == []
    assert findings.checked["decisions"] > 0


def test_a_gaizhou_baby_born_in_november_2024_paid_within_3_months_claims_from_1_january(
        tmp_path: Path, book: PolicyBook) -> None:
    # 004: 新生儿出生即可缴费……出生三个月内缴费不设等待期
    mother = make_id(GAIZHOU, "19950301", 2)
    baby = make_id(GAIZHOU, "20241120", 1)
    ledger, results = run(tmp_path, book, [
        {"op": "register", "person": mother, "name": "母", "region": GAIZHOU,
         "at": "2024-11-02"},
        {"op": "enroll", "person": mother, "year": 2025, "region": GAIZHOU,
         "at": "2024-11-02"},
        {"op": "pay", "person": mother, "year": 2025, "amount": "445.00", "channel": "cash",
         "payment_ref": "G1", "at": "2024-11-02"},
        {"op": "register", "person": baby, "name": "婴", "region": GAIZHOU, "at": "2025-01-05"},
        {"op": "enroll", "person": baby, "year": 2025, "region": GAIZHOU, "at": "2025-01-05",
         "household_head": mother, "category": "newborn"},
        {"op": "pay", "person": baby, "year": 2025, "amount": "335.00", "channel": "cash",
         "payment_ref": "G2", "at": "2025-02-10", "payer": mother, "payer_relation": "parent"},
        {"op": "claim", "claim_id": "K1", "person": baby, "visit_date": "2025-01-20",
         "facility_level": 1, "facility_region": GAIZHOU, "expense": "100.00",
         "at": "2025-02-11"},
    ])
    assert [r["status"] for r in results] == ["ok"] * 7, results
    assert results[5]["covered_from"] == "2025-01-01"
    assert results[6]["reimbursed"] == "55.00"
    audit_is_clean(ledger, book)


LIANDU = "331102"


def test_a_liandu_baby_born_late_in_2019_pays_2019_within_90_days_and_2020_separately(
        tmp_path: Path, book: PolicyBook) -> None:
    # 000: 2019 年年底出生的新生儿……应在出生后 90 天内补缴 2019 年度的参保费用,
    # 而 2020 年度的参保费用需另外缴纳。
    baby = make_id(LIANDU, "20191220", 3)
    visit = {"op": "claim", "person": baby, "facility_level": 1, "facility_region": LIANDU,
             "expense": "40.00"}
    ledger, results = run(tmp_path, book, [
        {"op": "register", "person": baby, "name": "婴", "region": LIANDU, "at": "2020-01-06"},
        {"op": "enroll", "person": baby, "year": 2019, "region": LIANDU, "at": "2020-01-06",
         "category": "newborn"},
        {"op": "pay", "person": baby, "year": 2019, "amount": "420.00", "channel": "alipay",
         "payment_ref": "L2019", "at": "2020-01-06"},
        {"op": "enroll", "person": baby, "year": 2020, "region": LIANDU, "at": "2020-01-06",
         "category": "newborn"},
        {"op": "pay", "person": baby, "year": 2020, "amount": "450.00", "channel": "alipay",
         "payment_ref": "L2020", "at": "2020-03-01"},
        {**visit, "claim_id": "V2019", "visit_date": "2019-12-28", "at": "2020-01-07"},
        {**visit, "claim_id": "V2020", "visit_date": "2020-01-15", "at": "2020-03-02"},
    ])
    assert [r["status"] for r in results] == ["ok"] * 7, results
    assert (results[2]["covered_from"], results[2]["rule"]) == ("2019-12-20",
                                                                "lishui-liandu-2019@1")
    assert (results[4]["covered_from"], results[4]["rule"]) == ("2020-01-01",
                                                                book.find(LIANDU, 2020).ref)
    assert [results[5]["reimbursed"], results[6]["reimbursed"]] == ["22.00", "22.00"]
    audit_is_clean(ledger, book)


CHANGSHA = "430102"


def test_an_employees_account_pays_for_a_child_but_not_for_a_neighbour(
        tmp_path: Path, book: PolicyBook) -> None:
    # 003: 职工医保卡个人账户里的资金可为自己的父母、配偶、子女缴纳居民医保费。
    worker = make_id(CHANGSHA, "19850101", 5)
    child = make_id(CHANGSHA, "20150101", 7)
    neighbour = make_id(CHANGSHA, "19600101", 9)
    at = "2023-10-01"

    def pay(person: str, payer: str, relation: str, ref: str) -> dict[str, Any]:
        return {"op": "pay", "person": person, "year": 2024, "amount": "380.00",
                "channel": "employee_account", "payment_ref": ref, "at": at, "payer": payer,
                "payer_relation": relation}

    ledger, results = run(tmp_path, book, [
        *({"op": "register", "person": p, "name": "某", "region": CHANGSHA, "at": at}
          for p in (worker, child, neighbour)),
        {"op": "enroll", "person": child, "year": 2024, "region": CHANGSHA, "at": at},
        {"op": "enroll", "person": neighbour, "year": 2024, "region": CHANGSHA, "at": at},
        pay(child, worker, "parent", "E1"),  # not yet known in employee insurance
        {"op": "report_employee_insurance", "person": worker, "year": 2024, "at": at},
        pay(child, worker, "parent", "E2"),
        pay(neighbour, worker, "other", "E3"),
    ])
    assert [(r["status"], r["reason"]) for r in results[5:]] == [
        ("rejected", "payer_not_allowed"), ("ok", None), ("ok", None),
        ("rejected", "payer_not_allowed")]
    assert results[7]["covered_from"] == "2024-01-01"
    audit_is_clean(ledger, book)


def test_a_college_student_enrolls_at_school_and_is_refused_at_home(
        tmp_path: Path, book: PolicyBook) -> None:
    # 003: 新入学的大中专学生统一在学校所在地参保,不得在原户籍地重复参保。
    home, school = "430121", CHANGSHA
    student = make_id(home, "20050901", 3)
    outsider = make_id("341225", "19900101", 5)
    spouse = make_id("341225", "19910101", 6)
    at = "2023-10-01"
    ledger, results = run(tmp_path, book, [
        {"op": "register", "person": student, "name": "生", "region": home, "at": at,
         "hukou_region": home, "school_region": school, "school_level": "college"},
        {"op": "enroll", "person": student, "year": 2024, "region": home, "at": at},
        {"op": "enroll", "person": student, "year": 2024, "region": school, "at": at,
         "category": "student"},
        # 000: 与莲都区户籍城乡居民形成婚姻关系的非本区户籍居民 — Liandu admits spouses
        {"op": "register", "person": spouse, "name": "配", "region": LIANDU, "at": "2019-11-02",
         "hukou_region": "341225", "spouse_region": LIANDU},
        {"op": "enroll", "person": spouse, "year": 2020, "region": LIANDU, "at": "2019-11-02"},
        {"op": "register", "person": outsider, "name": "外", "region": LIANDU,
         "at": "2019-11-02", "hukou_region": "341225"},
        {"op": "enroll", "person": outsider, "year": 2020, "region": LIANDU,
         "at": "2019-11-02"},
    ])
    assert [(r["status"], r["reason"]) for r in results] == [
        ("ok", None), ("rejected", "not_eligible_here"), ("ok", None), ("ok", None),
        ("ok", None), ("ok", None), ("rejected", "not_eligible_here")]
    assert "never at home" in results[1]["message"]
    audit_is_clean(ledger, book)


def test_a_store_recorded_before_places_and_third_party_shares_is_read_and_audited_alike(
        tmp_path: Path, book: PolicyBook) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    ledger = open_ledger(url, book)
    lines = [json.dumps(c) for c in generate_county(15, "fuyang-2021", 4, book)]
    assert any(r["status"] == "ok" for r in ledger.execute_lines(lines))
    views = open_views(ledger.app, ledger.policies, url)
    catch_up(ledger.app, views)
    expected = {name: views_rows(views, name) for name in ("claims_journal", "enrollment")}
    views.engine.dispose()
    ledger.app.close()
    with raw_store(url) as con:
        for topic, drop, version in (("%Person.Registered", PLACE_FIELDS, 1),
                                     ("%OutpatientClaimSettled", ("third_party_share",), 2)):
            for oid, v, state in con.execute("SELECT originator_id, originator_version, state "
                                             "FROM {events} WHERE topic LIKE ?", (topic,)):
                data = json.loads(plain(bytes(state)))
                for name in drop:
                    del data[name]
                data["class_version"] = version
                if version == 1:
                    del data["class_version"]
                con.execute("UPDATE {events} SET state=? WHERE originator_id=? AND "
                            "originator_version=?", (json.dumps(data).encode(), oid, v))
    old = open_ledger(url, book)
    assert verify_decisions(old.app, book).problems == []
    rebuilt = open_views(old.app, old.policies, url)
    rebuild(old.app, rebuilt)
    assert {name: views_rows(rebuilt, name) for name in expected} == expected


def views_rows(views, name: str) -> list[tuple]:
    table = {"claims_journal": tables.claims_journal, "enrollment": tables.enrollment}[name]
    with views.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(table)))
