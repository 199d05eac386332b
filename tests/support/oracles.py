"""Oracles: slow, obviously right answers the fast code is checked against (the aggregates
folded in memory, the outpatient rule applied row by row)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import attrs
import numpy as np
from numpy.typing import ArrayLike

from adapters.application.ledger import Ledger
from adapters.whatif.kernel import (
    REASONS,
    ClaimColumns,
    ClaimResults,
    _check_inputs,
    _reversals,
)
from domain.errors import Rejected
from domain.identity import number_of, parse_person_ref
from domain.money import Money
from domain.policy import CAUSES, Policy
from domain.rules.outpatient import MemberCoverage, Pool, Visit, settle


def person_view(ledger: Ledger, ref: str, year: int | None = None) -> dict[str, Any]:
    """What `projections.queries.person` must answer, folded from the aggregates."""
    key = parse_person_ref(ref).key
    person = ledger.app.get_or_none(ledger.app.ids.person(key))
    if person is None:
        raise Rejected("unknown_person", f"{ref} is not registered")
    if year is None:
        year = max(person.years) if person.years else None
    py = person.year(year) if year is not None else None
    reimbursed = Money(0)
    if py is not None:
        household = ledger.app.get_or_none(ledger.app.ids.household(py.household_head, year))
        if household is not None:
            reimbursed = household.used(key)
    return {
        "person": person.number, "year": year,
        "region": py.region if py else person.region,
        "household_head": number_of(py.household_head) if py else None,
        "enrolled": bool(py and not py.terminated),
        "covered_from": py.covered_from.isoformat() if py and py.covered_from else None,
        "due": str(py.due) if py else None, "subsidy": str(py.subsidy) if py else None,
        "paid": str(py.paid) if py else "0.00",
        "refunded": str(py.refunded) if py else "0.00",
        "credit": str(py.credit) if py else "0.00",
        "reimbursed": str(reimbursed),
        "identity": py.identity if py else None,
    }


def household_view(ledger: Ledger, ref: str, year: int, as_of: date | None = None
                   ) -> dict[str, Any]:
    """What `projections.queries.household` must answer, folded from the aggregates (up to a
    business date when `as_of` is given)."""
    key = parse_person_ref(ref).key
    person = ledger.app.get_or_none(ledger.app.ids.person(key))
    if person is None:
        raise Rejected("unknown_person", f"{ref} is not registered")
    py = person.year(year)
    if py is None:
        raise Rejected("not_enrolled", f"{ref} is not enrolled for {year}")
    hid = ledger.app.ids.household(py.household_head, year)
    if as_of is None:
        household = ledger.app.get_or_none(hid)
    else:
        household = None
        for event in ledger.app.events.get(hid):
            if _business_day(event) > as_of:
                if household is None:
                    break
                continue
            if household is None:
                household = event.mutate(None)
            else:
                event.apply(household)
    policy = ledger.policies.find(py.region, year)
    if household is None:
        raise Rejected("not_enrolled", f"the household did not exist on {as_of}")
    covered = household.covered_members(as_of)
    cap = Money(policy.outpatient.per_person_cap.fen * len(covered)) if policy else Money(0)
    used = household.used()
    return {
        "head": number_of(household.head), "year": year, "region": household.region,
        "members": [number_of(m.person) for m in household.members.values() if not m.left],
        "covered_members": [number_of(p) for p in covered],
        "cap": str(cap), "used": str(used), "remaining": str(max(Money(0), cap - used)),
        "claims": [
            {"claim_id": c.claim_id, "person": number_of(c.person),
             "visit_date": c.visit_date.isoformat(), "reimbursed": str(c.reimbursed),
             "reversed": c.reversed, "explanation": c.explanation}
            for c in household.claims.values()
        ],
        "as_of": as_of.isoformat() if as_of else None,
        "rule": policy.ref if policy else None,
    }




def _business_day(event: Any) -> date:
    at = getattr(event, "at", None)
    return at.date() if isinstance(at, datetime) else date.min


def settle_rows_reference(columns: ClaimColumns, policies: Sequence[Policy],
                          reversal_claim: ArrayLike | None = None,
                          reversal_after: ArrayLike | None = None) -> ClaimResults:
    """Settle row by row through `domain.rules.outpatient.settle`: the kernel's slow oracle."""
    n = len(columns)
    rev_claim, rev_after = _reversals(reversal_claim, reversal_after, n)
    _check_inputs(columns, len(policies))
    order = sorted(range(len(rev_after)), key=lambda k: int(rev_after[k]))
    pending = [(int(rev_after[k]), int(rev_claim[k])) for k in order]
    out = {f.name: [0] * n for f in attrs.fields(ClaimResults)}
    used_household: dict[int, int] = {}
    used_person: dict[tuple[int, int], int] = {}
    paid: dict[int, int] = {}
    undone: set[int] = set()
    nxt = 0
    col = {f.name: getattr(columns, f.name).tolist() for f in attrs.fields(ClaimColumns)}
    for i in range(n):
        while nxt < len(pending) and pending[nxt][0] < i:
            claim = pending[nxt][1]
            nxt += 1
            if claim in paid and claim not in undone:
                undone.add(claim)
                h, who = col["household"][claim], col["person"][claim]
                used_household[h] -= paid[claim]
                used_person[(h, who)] -= paid[claim]
        policy = policies[col["policy"][i]]
        h, who = col["household"][i], col["person"][i]
        visit = Visit(person=str(who), visit_date=date.fromordinal(col["visit_day"][i]),
                      facility_level=col["facility_level"][i],
                      facility_region=f"{col['facility_region'][i]:06d}",
                      expense=Money(col["expense"][i]), cause=CAUSES[col["cause"][i]])
        member = MemberCoverage(
            region=f"{col['member_region'][i]:06d}",
            covered_from=_day(col["covered_from"][i]), covered_to=_day(col["covered_to"][i]),
            suspended=col["suspended"][i],
        )
        cap_each = policy.outpatient.per_person_cap.fen
        if policy.outpatient.pooling == "household":
            pool = Pool(cap=Money(cap_each * col["covered_on_visit"][i]),
                        used=Money(used_household.get(h, 0)))
        else:
            pool = Pool(cap=Money(cap_each if col["counts_for_cap"][i] else 0),
                        used=Money(used_person.get((h, who), 0)))
        try:
            decision = settle(policy, visit, member, pool)
        except Rejected as e:
            out["reason"][i] = REASONS.index(e.reason)
            continue
        pay = decision.reimbursed.fen
        used_household[h] = used_household.get(h, 0) + pay
        used_person[(h, who)] = used_person.get((h, who), 0) + pay
        paid[i] = pay
        for name in ("eligible_expense", "reimbursable", "reimbursed", "pool_cap",
                     "pool_used_before", "pool_remaining_after"):
            out[name][i] = getattr(decision, name).fen
    return ClaimResults(reason=np.array(out.pop("reason"), np.int8),
                        **{name: np.array(values, np.int64) for name, values in out.items()})


def _day(ordinal: int) -> date | None:
    return date.fromordinal(ordinal) if ordinal else None
