"""Builders of valid inputs: resident IDs, a two-person family, a claim, a shipped policy with
its outpatient terms patched."""

from __future__ import annotations

import functools
from datetime import date, datetime, timezone
from typing import Any

from stdnum.cn import ric

from adapters.stores.policy_files import load_policy_book
from domain.policy import Policy
from domain.policy_book import PolicyBook
from domain.policy_parsing import merge, policy_from_mapping

RECORDED_AT = datetime(2030, 1, 1, tzinfo=timezone.utc)


def make_id(region: str = "341225", birth: date | str = "19800101", seq: int | str = 1) -> str:
    """A valid 18-character resident ID: region + YYYYMMDD + 3-digit sequence + check."""
    if isinstance(birth, date):
        birth = birth.strftime("%Y%m%d")
    base = f"{region}{birth}{int(seq):03d}"
    return base + ric.calc_check_digit(base + "0")


# --- a two-person family, as contract commands (shared by the integration tests) ------------

FAMILY_AT = "2020-10-01T10:00:00+08:00"
HEAD = make_id("341225", "19800101", 11)
WIFE = make_id("341225", "19820202", 22)


def family() -> list[dict[str, Any]]:
    """Head and wife registered, enrolled in one household and paid for 2021 (Funan)."""
    at = FAMILY_AT
    return [
        {"op": "register", "person": HEAD, "name": "Head", "region": "341225", "at": at},
        {"op": "register", "person": WIFE, "name": "Wife", "region": "341225", "at": at},
        {"op": "enroll", "person": HEAD, "year": 2021, "region": "341225", "at": at},
        {"op": "pay", "person": HEAD, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "P1", "at": at},
        {"op": "enroll", "person": WIFE, "year": 2021, "region": "341225", "at": at,
         "household_head": HEAD},
        {"op": "pay", "person": WIFE, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "P2", "at": at},
    ]


def claim(claim_id: str, person: str, expense: str) -> dict[str, Any]:
    """A village-clinic visit on 1 March 2021 in Funan."""
    return {"op": "claim", "claim_id": claim_id, "person": person, "visit_date": "2021-03-01",
            "facility_level": 0, "facility_region": "341225", "expense": expense,
            "at": "2021-03-01T09:00:00+08:00"}


# --- shipped policies, patched -------------------------------------------------------------


@functools.cache
def shipped_book() -> PolicyBook:
    """The policy files shipped with the ledger, read once."""
    return load_policy_book()


@functools.cache
def shipped_policies() -> tuple[Policy, ...]:
    """The shipped policies in force, in the book's order."""
    return tuple(shipped_book().in_force())


@functools.lru_cache(maxsize=512)
def patched_policy(base: int, patch: tuple[tuple[str, object], ...]) -> Policy:
    """Shipped policy number `base` with its outpatient terms patched (`patch`: sorted pairs of
    key and value, a list given as a tuple)."""
    outpatient = {k: list(v) if isinstance(v, tuple) else v for k, v in patch}
    return policy_from_mapping(merge(shipped_book().raw(shipped_policies()[base]),
                                     {"outpatient": outpatient}), "property")


FUNAN = "341225"
AT = FAMILY_AT


def family_with_ids() -> list[dict[str, Any]]:
    """Every op that records something, each under an id of its own."""
    return [
        {"op": "register", "person": HEAD, "name": "户主", "region": FUNAN, "at": AT},
        {"op": "register", "person": WIFE, "name": "妻", "region": FUNAN, "at": AT},
        {"op": "enroll", "person": HEAD, "year": 2021, "region": FUNAN, "at": AT},
        {"op": "pay", "person": HEAD, "year": 2021, "amount": "300.00", "channel": "cash",
         "payment_ref": "P1", "at": AT},
        {"op": "enroll", "person": WIFE, "year": 2021, "region": FUNAN, "at": AT,
         "household_head": HEAD},
        {"op": "pay", "person": WIFE, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "P2", "at": AT},
        {"op": "grant_subsidy", "person": WIFE, "year": 2021, "identity": "dibao", "at": AT},
        {"op": "refund", "person": HEAD, "year": 2021, "reason": "duplicate_payment",
         "amount": "10.00", "at": "2020-11-01"},
        {"op": "claim", "claim_id": "C1", "person": WIFE, "visit_date": "2021-03-01",
         "facility_level": 1, "facility_region": FUNAN, "expense": "100.00",
         "at": "2021-03-01T09:00:00+08:00"},
        {"op": "reverse_claim", "claim_id": "C1", "reason": "billed twice",
         "at": "2021-03-02T09:00:00+08:00"},
        {"op": "report_employee_insurance", "person": WIFE, "year": 2021,
         "at": "2021-04-01T09:00:00+08:00"},
        {"op": "recognise_identity", "person": WIFE, "year": 2021, "identity": "dibao",
         "region": FUNAN, "source": "civil_affairs", "at": "2021-04-02T09:00:00+08:00"},
    ]


def with_ids(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "command_id": f"desk-7-{n:04d}"} for n, c in enumerate(commands, start=1)]


def policy_file(policy_id: str = "test-2021", version: str = "1", ratio: str = "0.55") -> str:
    """The text of a small valid policy file (Fuyang's region, 2021), for tests of loading."""
    return f"""\
id = "{policy_id}"
version = "{version}"
region = "3412"
year = 2021
seed = "001"

[contribution]
individual = "280.00"

[[collection.windows]]
start = 2020-09-01
end = 2020-12-31
categories = ["general"]

[refund]
deadline = 2020-12-31

[outpatient]
ratio = "{ratio}"
per_person_cap = "250.00"

[assumptions]
"outpatient.ratio" = "A test value."
"""
