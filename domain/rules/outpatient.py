"""General-outpatient adjudication against a person's coverage and the pooled annual cap."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from attrs import frozen

from domain.errors import Rejected
from domain.money import ZERO, Money
from domain.policy import Policy
from domain.rules.pool import pool_remaining


@frozen
class Visit:
    """The facts of one outpatient visit as the clinic reports them."""

    person: str
    visit_date: date
    facility_level: int
    facility_region: str
    expense: Money
    cause: str = "ordinary"
    third_party_share: Decimal | None = None


@frozen
class ClaimScope:
    """The part of a visit's expense inside the reimbursement scope, and the cause it is judged
    on."""

    expense: Money
    cause: str
    explanation: str = ""


def claim_scope(expense: Money, cause: str, third_party_share: Decimal | None) -> ClaimScope:
    """003: 经相关部门认定、按比例剔除应由第三人负担后的医疗费用 are in scope (ADR 64).

    A third-party case with a certified share: the expense left after that share (half-up to
    the fen), judged as an ordinary expense. Anything else: the whole expense under its cause
    (a third-party case without a certified share stays outside the scope). The ledger, the
    views that feed the fast what-if and the audit all take the scope from here."""
    if cause != "third_party" or third_party_share is None:
        return ClaimScope(expense, cause)
    left = expense.times(1 - third_party_share)
    return ClaimScope(left, "ordinary", f"the third party's certified share "
                      f"{third_party_share} of {expense} removed: {left} in scope; ")


@frozen
class MemberCoverage:
    """What the household knows of the visiting member."""

    region: str
    covered_from: date | None
    covered_to: date | None
    suspended: bool = False


@frozen
class Pool:
    """The cap and use the claim is measured against (household or the person, per pooling)."""

    cap: Money
    used: Money

    @property
    def remaining(self) -> Money:
        return pool_remaining(self.cap, self.used)


@frozen
class ClaimDecision:
    eligible_expense: Money
    reimbursable: Money
    reimbursed: Money
    pool_cap: Money
    pool_used_before: Money
    pool_remaining_after: Money
    explanation: str


def check_claim(policy: Policy, visit: Visit, member: MemberCoverage) -> None:
    """Refuse a visit the benefit does not cover (raises Rejected with the contract code)."""
    if member.suspended:
        raise Rejected("employee_insured", f"{visit.person} is reported in employee insurance "
                       f"for {policy.year}: no resident benefit may be paid")
    if (member.covered_from is None or visit.visit_date < member.covered_from
            or (member.covered_to is not None and visit.visit_date > member.covered_to)):
        span = (f"covered {member.covered_from}..{member.covered_to}"
                if member.covered_from else "no coverage")
        raise Rejected("not_covered_on_date", f"{visit.person} is not covered on "
                       f"{visit.visit_date} ({span})")
    cause = claim_scope(visit.expense, visit.cause, visit.third_party_share).cause
    if cause in policy.outpatient.excluded_causes:
        certify = (" without a third party's certified share"
                   if visit.cause == "third_party" else "")
        raise Rejected("excluded_cause", f"expenses caused by {visit.cause}{certify} are "
                       f"outside the reimbursement scope ({policy.ref})")
    if visit.facility_level > policy.outpatient.max_facility_level:
        raise Rejected("facility_not_eligible", f"facility level {visit.facility_level} is "
                       f"above level {policy.outpatient.max_facility_level}, the highest this "
                       f"benefit pays at ({policy.ref})")
    if policy.outpatient.in_county_only and visit.facility_region != member.region:
        raise Rejected("out_of_county", f"the facility is in {visit.facility_region}, outside "
                       f"the insured county {member.region} ({policy.ref})")


def reimbursable_amount(policy: Policy, expense: Money) -> tuple[Money, Money]:
    """Eligible expense (above any deductible) and ratio × eligible, half-up to the fen."""
    eligible = max(ZERO, expense - policy.outpatient.deductible)
    return eligible, eligible.times(policy.outpatient.ratio)


def settle(policy: Policy, visit: Visit, member: MemberCoverage, pool: Pool) -> ClaimDecision:
    """Adjudicate one visit: reimbursed = min(ratio × eligible, what is left of the pool)."""
    check_claim(policy, visit, member)
    scope = claim_scope(visit.expense, visit.cause, visit.third_party_share)
    eligible, reimbursable = reimbursable_amount(policy, scope.expense)
    remaining = pool.remaining
    reimbursed = min(reimbursable, remaining)
    after = remaining - reimbursed
    note = "" if reimbursed == reimbursable else (
        " (pool exhausted)" if reimbursed == ZERO else " (partly: the pool ran low)")
    return ClaimDecision(
        eligible_expense=eligible,
        reimbursable=reimbursable,
        reimbursed=reimbursed,
        pool_cap=pool.cap,
        pool_used_before=pool.used,
        pool_remaining_after=after,
        explanation=(f"{scope.explanation}{policy.outpatient.ratio} x {eligible} = "
                     f"{reimbursable}; "
                     f"{policy.outpatient.pooling} pool {pool.cap}, used {pool.used}, left "
                     f"{remaining}: reimbursed {reimbursed}{note} ({policy.ref})"),
    )


def benefit_year_dates(policy: Policy) -> tuple[date, date]:
    return policy.year_start, policy.year_end
