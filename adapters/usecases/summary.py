"""A readable summary of a ledger: pools per year and region and the claims settled. Its money
is the fund report's (`projections.queries.fund_report`, ADR 74)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.aggregates import Household
from domain.money import ZERO
from domain.policy_book import PolicyBook
from domain.rules.pool import pool_remaining


def originators(store: Any, event_class: type, page: int = 1000) -> Iterator[UUID]:
    """Ids of every aggregate created by a given created-event class, in log order."""
    topic = get_topic(event_class)
    start = 1
    while True:
        batch = store.recorder.select_notifications(start, page, topics=[topic])
        if not batch:
            return
        for n in batch:
            yield n.originator_id
        start = batch[-1].id + 1


def summarise(store: Any, book: PolicyBook) -> dict[str, Any]:
    """Totals from the aggregates themselves (the read models come later)."""
    pools: dict[tuple[int, str], dict[str, Any]] = defaultdict(
        lambda: {"households": 0, "covered": 0, "cap": ZERO, "used": ZERO, "remaining": ZERO,
                 "at_cap": 0})
    claims = reversed_claims = 0
    reimbursed = ZERO
    for hid in originators(store, Household.Formed):
        h = store.repository.get(hid)
        policy = book.find(h.region, h.year)
        covered = len(h.covered_members())
        each = h.cap_each(policy.outpatient.per_person_cap if policy else None)
        cap = h.cap(each) if each is not None else ZERO
        used = h.used()
        row = pools[(h.year, h.region)]
        row["households"] += 1
        row["covered"] += covered
        row["cap"] += cap
        row["used"] += used
        row["remaining"] += pool_remaining(cap, used)
        row["at_cap"] += int(cap.is_positive() and used >= cap)
        claims += sum(1 for c in h.claims.values() if not c.reversed)
        reversed_claims += sum(1 for c in h.claims.values() if c.reversed)
        reimbursed += used
    return {
        "pools": [
            {"year": year, "region": region, "households": r["households"],
             "covered": r["covered"], "cap": str(r["cap"]), "used": str(r["used"]),
             "remaining": str(r["remaining"]), "at_cap": r["at_cap"]}
            for (year, region), r in sorted(pools.items())
        ],
        "reimbursements": str(reimbursed), "claims_settled": claims,
        "claims_reversed": reversed_claims,
    }
