"""The claim handlers of the command service: settle, quote, re-send and reverse a claim."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from domain import commands as c
from domain.aggregates import ClaimRef, Household, Person, PersonYear
from domain.errors import Rejected
from domain.identity import mask_number, number_of
from domain.policy import Policy
from domain.ports import Aggregates, Outcome
from domain.ports import as_text as _s
from domain.rules.outpatient import ClaimDecision, MemberCoverage, Pool, Visit, settle
from domain.rules.pool import pool_cap


class ClaimHandlers:
    """Outpatient claims against the household pool (mixed into `LedgerService`)."""

    def settle_claim(self, cmd: c.Claim, uow: Aggregates, now: datetime) -> Outcome:
        return self._claim(cmd, uow, now, record=True)

    def quote(self, cmd: c.Quote, uow: Aggregates, now: datetime) -> Outcome:
        return self._claim(cmd, uow, now, record=False)

    def _claim(self, cmd: c.Claim, uow: Aggregates, now: datetime, record: bool) -> Outcome:
        known = uow.claim_ref(cmd.claim_id)
        if known is not None and known.household is None:
            raise Rejected("claim_reversed", f"claim {cmd.claim_id} was reversed before it "
                           f"arrived ({known.withdrawn_for}): it is not settled")
        if known is not None:
            return self._resend(cmd, uow, known)
        person = self._person(uow, cmd.person)
        py = self._claim_year(person, cmd.visit_date)
        household = uow.household(py.household_head, py.year)
        policy = self._policy(py.region, py.year)
        member = household.members[person.key]
        decision = self.adjudicate(policy, household, member.person, cmd)
        fields = _claim_fields(decision, policy)
        if not record:
            return Outcome(fields, (), decision.explanation)
        ref = ClaimRef.claim(cmd.claim_id, household.id, person.key, now)
        household.settle_claim(
            now, claim_id=cmd.claim_id, person=person.key, visit_date=cmd.visit_date,
            facility_level=cmd.facility_level, facility_region=cmd.facility_region.code,
            expense=cmd.expense, cause=cmd.cause, third_party_share=cmd.third_party_share,
            at=cmd.at, pooling=policy.outpatient.pooling,
            eligible_expense=decision.eligible_expense,
            reimbursable=decision.reimbursable, reimbursed=decision.reimbursed,
            pool_cap=decision.pool_cap, pool_used_before=decision.pool_used_before,
            pool_remaining_after=decision.pool_remaining_after, policy_id=policy.id,
            policy_version=policy.version, policy_hash=policy.content_hash,
            explanation=decision.explanation,
        )
        return Outcome(fields, (household, ref), decision.explanation)

    def adjudicate(self, policy: Policy, household: Household, person_key: str,
                   cmd: c.Claim) -> ClaimDecision:
        """The one decision function behind claim, quote, audit and what-if replays."""
        member = household.members[person_key]
        coverage = MemberCoverage(
            region=member.region, covered_from=None if member.left else member.covered_from,
            covered_to=member.covered_to, suspended=member.suspended,
        )
        visit = Visit(person=number_of(person_key), visit_date=cmd.visit_date,
                      facility_level=cmd.facility_level,
                      facility_region=cmd.facility_region.code, expense=cmd.expense,
                      cause=cmd.cause, third_party_share=cmd.third_party_share)
        cap_each = policy.outpatient.per_person_cap
        if policy.outpatient.pooling == "household":
            pool = Pool(cap=pool_cap(cap_each, len(household.covered_members(cmd.visit_date))),
                        used=household.used())
        else:
            pool = Pool(cap=pool_cap(cap_each, 1 if member.counts_for_cap else 0),
                        used=household.used(person_key))
        return settle(policy, visit, coverage, pool)

    @staticmethod
    def _claim_year(person: Person, visit: date) -> PersonYear:
        for year in (visit.year, visit.year + 1):
            py = person.year(year)
            if py is not None and not py.terminated and (
                    year == visit.year or (py.covered_from and py.covered_from <= visit)):
                return py
        raise Rejected("not_enrolled", f"{mask_number(person.number)}"
                                       f" is not enrolled for {visit.year}")

    def _resend(self, cmd: c.Claim, uow: Aggregates, known: ClaimRef) -> Outcome:
        household = uow.household_by_id(known.household)
        original = household.claims[cmd.claim_id]
        same = (known.person, original.visit_date, original.facility_level,
                original.facility_region, original.expense, original.cause,
                original.third_party_share) == cmd.facts()
        if not same:
            raise Rejected("duplicate_claim_conflict", f"claim {cmd.claim_id} was already "
                           "settled with different facts")
        policy = self.policies.get(original.policy_id, original.policy_version)
        fields = {
            "eligible_expense": _s(original.eligible_expense),
            "reimbursable": _s(original.reimbursable), "reimbursed": _s(original.reimbursed),
            "pool_cap": _s(original.pool_cap), "pool_used_before": _s(original.pool_used_before),
            "pool_remaining_after": _s(original.pool_remaining_after),
            "rule": policy.ref if policy else f"{original.policy_id}@{original.policy_version}",
            "duplicate": True,
        }
        if original.reversed:
            fields["reversed"] = True
        return Outcome(fields, (), f"claim {cmd.claim_id} was already settled; the original "
                       "decision is returned and nothing new is recorded")

    def reverse_claim(self, cmd: c.ReverseClaim, uow: Aggregates, now: datetime) -> Outcome:
        known = uow.claim_ref(cmd.claim_id)
        if known is None:  # 冲正 before the claim: it will be refused when it comes (ADR 46)
            ref = ClaimRef.withdraw(cmd.claim_id, cmd.reason, cmd.at, now)
            return Outcome({"restored": "0.00", "claim_id": cmd.claim_id, "withdrawn": True},
                           (ref,), f"claim {cmd.claim_id} has not arrived: it is recorded as "
                           "reversed, and refused as claim_reversed when it comes")
        if known.household is None:
            raise Rejected("already_reversed", f"claim {cmd.claim_id} was already reversed "
                           "before it arrived")
        household = uow.household_by_id(known.household)
        claim = household.claims[cmd.claim_id]
        if claim.reversed:
            raise Rejected("already_reversed", f"claim {cmd.claim_id} is already reversed")
        household.reverse_claim(cmd.claim_id, cmd.reason, cmd.at, now)
        return Outcome({"restored": _s(claim.reimbursed), "claim_id": cmd.claim_id},
                       (household,), f"claim {cmd.claim_id} reversed; {claim.reimbursed} "
                       "returned to the pool")


def _claim_fields(d: ClaimDecision, policy: Policy) -> dict[str, Any]:
    return {
        "eligible_expense": _s(d.eligible_expense), "reimbursable": _s(d.reimbursable),
        "reimbursed": _s(d.reimbursed), "pool_cap": _s(d.pool_cap),
        "pool_used_before": _s(d.pool_used_before),
        "pool_remaining_after": _s(d.pool_remaining_after), "rule": policy.ref,
    }

