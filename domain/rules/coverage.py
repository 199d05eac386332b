"""From which day a person-year's benefits start, once its contribution is settled."""

from __future__ import annotations

from datetime import date

from attrs import frozen
from dateutil.relativedelta import relativedelta

from domain.errors import Rejected
from domain.policy import Policy
from domain.rules.collection import add_period, is_newborn


@frozen
class CoverageFacts:
    """Everything the coverage rule reads about a person-year."""

    category: str
    birth_date: date
    identity: str | None
    prior_insured: bool
    broken_years: int
    back_paid_years: int


@frozen
class CoverageDecision:
    covered_from: date | None
    waiting_months: int
    explanation: str


def waiting_months(policy: Policy, broken_years: int, back_paid_years: int) -> tuple[int, str]:
    """Fixed wait + variable wait per broken year − back-paid years; long breaks have a floor."""
    w = policy.waiting
    counted = max(0, broken_years - w.broken_years_not_counted)
    variable = max(0, counted * w.variable_months_per_broken_year
                   - back_paid_years * w.months_removed_per_back_paid_year)
    total = w.fixed_months + variable
    why = (f"fixed {w.fixed_months} + variable {variable} month(s) "
           f"({broken_years} broken year(s), {back_paid_years} back-paid)")
    long_break = w.long_break_years and broken_years >= w.long_break_years
    if long_break and total < w.long_break_min_months:
        total = w.long_break_min_months
        why += f", raised to {total} after {w.long_break_years}+ broken years"
    return total, why


def newborn_covered_from(policy: Policy, birth: date) -> date:
    """A newborn paid within the from-birth period is covered from birth; one born the year
    before is covered from 1 January of the benefit year its payment buys (ADR 62)."""
    return max(birth, policy.year_start)


def coverage_start(policy: Policy, facts: CoverageFacts, settled_on: date) -> CoverageDecision:
    """Decide the first covered day for a contribution settled (fully paid) on `settled_on`."""
    birth = facts.birth_date
    if is_newborn(policy, facts.category, birth):
        nb = policy.newborn
        if nb.free_in_birth_year and birth.year == policy.year:
            return CoverageDecision(birth, 0, f"newborn covered from birth {birth} without "
                                    f"payment ({policy.ref})")
        if nb.from_birth_if_paid_within and settled_on <= add_period(
                birth, nb.from_birth_if_paid_within):
            start = newborn_covered_from(policy, birth)
            return CoverageDecision(start, 0, f"newborn paid {settled_on}, within "
                                    f"{nb.from_birth_if_paid_within} of birth: covered from "
                                    + (f"birth {birth}" if start == birth else
                                       f"{start}, the first day of the benefit year (born "
                                       f"{birth}, the year before)") + f" ({policy.ref})")
        if nb.from_payment_if_paid_within and settled_on <= add_period(
                birth, nb.from_payment_if_paid_within):
            return CoverageDecision(settled_on, 0, f"newborn paid {settled_on}, within "
                                    f"{nb.from_payment_if_paid_within} of birth: covered from "
                                    f"the payment date ({policy.ref})")
    for w in policy.windows:
        if w.admits(settled_on, facts.category) or (
            facts.category in w.categories and w.start <= settled_on <= w.end
        ):
            start = w.covered_from or policy.year_start
            return CoverageDecision(start, 0, f"settled {settled_on} in the {w.name} window: "
                                    f"covered from {start} ({policy.ref})")
    ends = [w.end for w in policy.windows if facts.category in w.categories]
    if ends and settled_on <= max(ends):
        return CoverageDecision(policy.year_start, 0, f"settled {settled_on}, before the "
                                f"collection deadline: covered from {policy.year_start} "
                                f"({policy.ref})")
    late = policy.late
    if late.coverage == "payment_date":
        return CoverageDecision(settled_on, 0, f"settled {settled_on}, after the collection "
                                f"window: covered from the payment date ({policy.ref})")
    if facts.identity in policy.waiting.exempt_identities:
        return CoverageDecision(settled_on, 0, f"settled {settled_on} late; {facts.identity} "
                                f"is exempt from the waiting period ({policy.ref})")
    months, why = waiting_months(policy, facts.broken_years, facts.back_paid_years)
    start = settled_on + relativedelta(months=months)
    if start > policy.year_end:
        raise Rejected("outside_collection_window", f"settled {settled_on}: the waiting period "
                       f"({why} = {months} months) would end {start}, after the benefit year "
                       f"{policy.year}; a contribution now buys no coverage ({policy.ref})")
    return CoverageDecision(start, months, f"settled {settled_on} late: waiting period {why} "
                            f"= {months} month(s), covered from {start} ({policy.ref})")
