"""Event-sourced aggregates: Person, Household (one per head and benefit year) and the
uniqueness indexes (payment and refund references, claim ids, command ids). Events are the
library's frozen dataclasses. Their class names and field names are stored schema: add fields
with defaults and upcast, never rename. Every deciding event carries the facts its decision
used and the policy id/version that decided."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.ids import (
    PUBLIC_IDS,
    StreamIds,
    claim_ref_id,
    command_ref_id,
    payment_ref_id,
    refund_ref_id,
)
from domain.money import ZERO, Money
from domain.rules.coverage import CoverageFacts
from domain.rules.eligibility import Places
from domain.state import HouseholdPool, Member, PersonYear, SettledClaim
from domain.upcasts import (
    no_fiscal,
    no_places,
    no_policy_hash,
    no_pool_terms,
    no_refund_terms,
    no_third_party_share,
)


class Person(Aggregate):
    """A resident: identity, registration, and each benefit year's enrollment and money."""

    class Registered(Aggregate.Created):
        person_key: str
        number: str
        standard_id: bool
        name: str
        region: str
        birth_date: date
        sex: str | None
        residence_permit: bool
        at: datetime
        hukou_region: str | None = None
        residence_permit_region: str | None = None
        spouse_region: str | None = None
        school_region: str | None = None
        school_level: str | None = None

        class_version = 2
        upcast_v1_v2 = staticmethod(no_places)

    def __init__(self, person_key: str, number: str, standard_id: bool, name: str, region: str,
                 birth_date: date, sex: str | None, residence_permit: bool, at: datetime,
                 hukou_region: str | None = None, residence_permit_region: str | None = None,
                 spouse_region: str | None = None, school_region: str | None = None,
                 school_level: str | None = None) -> None:
        self.key = person_key
        self.number = number
        self.standard_id = standard_id
        self.name = name
        self.region = region
        self.birth_date = birth_date
        self.sex = sex
        self.residence_permit = residence_permit
        self.registered_at = at
        self.places = Places(hukou_region, residence_permit_region, spouse_region,
                             school_region, school_level)  # where they belong (ADR 66)
        self.years: dict[int, PersonYear] = {}
        self.employee_years: set[int] = set()
        self.recognised: dict[int, str] = {}  # year -> identity on a department's roster

    @classmethod
    def register(cls, *, person_key: str, recorded_at: datetime,
                 ids: StreamIds = PUBLIC_IDS, **facts: Any) -> Person:
        return cls._create(cls.Registered, id=ids.person(person_key), person_key=person_key,
                           timestamp=recorded_at, **facts)

    # --- events ---------------------------------------------------------------------------

    class EmployeeInsuranceReported(Aggregate.Event):
        year: int
        at: datetime

        def apply(self, p: Person) -> None:
            p.employee_years.add(self.year)

    class IdentityRecognised(Aggregate.Event):
        """A department's roster names the person's hardship identity for a year (ADR 65)."""

        year: int
        identity: str
        region: str
        source: str | None
        at: datetime

        def apply(self, p: Person) -> None:
            p.recognised[self.year] = self.identity

    class Enrolled(Aggregate.Event):
        year: int
        region: str
        household_head: str
        category: str
        identity: str | None
        at: datetime
        birth_date: date
        prior_insured: bool
        broken_years: int
        back_paid_years: int
        policy_id: str
        policy_version: str
        standard: Money
        subsidy: Money
        subsidy_basis: str | None
        due: Money
        covered_from: date | None
        explanation: str
        policy_hash: str | None
        fiscal: Money | None

        class_version = 3
        upcast_v1_v2 = staticmethod(no_policy_hash)
        upcast_v2_v3 = staticmethod(no_fiscal)

        def apply(self, p: Person) -> None:
            p.years[self.year] = PersonYear.enrolled(self)

    class ContributionPaid(Aggregate.Event):
        year: int
        amount: Money
        channel: str
        payment_ref: str
        payer: str
        payer_relation: str
        at: datetime
        accepted_in: str
        due: Money
        refunded: Money
        coverage_facts: CoverageFacts
        paid_total: Money
        credit: Money
        covered_from: date | None
        policy_id: str
        policy_version: str
        explanation: str
        policy_hash: str | None
        fiscal: Money | None

        class_version = 3
        upcast_v1_v2 = staticmethod(no_policy_hash)
        upcast_v2_v3 = staticmethod(no_fiscal)

        def apply(self, p: Person) -> None:
            y = p.years[self.year]
            y.paid = y.paid + self.amount
            y.payments.append(self.payment_ref)
            if y.covered_from is None and self.covered_from is not None:
                y.covered_from = self.covered_from

    class SubsidyGranted(Aggregate.Event):
        year: int
        identity: str
        at: datetime
        standard: Money
        subsidy: Money
        subsidy_basis: str | None
        due: Money
        paid: Money
        refunded: Money
        coverage_facts: CoverageFacts
        credit: Money
        covered_from: date | None
        policy_id: str
        policy_version: str
        explanation: str
        policy_hash: str | None
        fiscal: Money | None

        class_version = 3
        upcast_v1_v2 = staticmethod(no_policy_hash)
        upcast_v2_v3 = staticmethod(no_fiscal)

        def apply(self, p: Person) -> None:
            y = p.years[self.year]
            y.identity = self.identity
            y.subsidy = self.subsidy
            y.subsidy_basis = self.subsidy_basis
            y.due = self.due
            y.subsidy_granted_on = self.at.date()
            if y.covered_from is None and self.covered_from is not None:
                y.covered_from = self.covered_from

    class Refunded(Aggregate.Event):
        year: int
        reason: str
        amount: Money
        channel: str | None
        at: datetime
        paid: Money
        refunded_before: Money
        due: Money
        subsidy_granted_on: date | None
        requested: Money | None
        terminated: bool
        refunded_total: Money
        credit: Money
        policy_id: str
        policy_version: str
        explanation: str
        policy_hash: str | None
        fiscal: Money | None
        refund_ref: str | None

        class_version = 3
        upcast_v1_v2 = staticmethod(no_policy_hash)
        upcast_v2_v3 = staticmethod(no_refund_terms)

        def apply(self, p: Person) -> None:
            y = p.years[self.year]
            y.refunded = y.refunded + self.amount
            if self.terminated:
                y.terminated = True
                y.covered_from = None

    # --- commands (the decisions were taken by the rules; these record them) ---------------

    def report_employee_insurance(self, year: int, at: datetime, recorded_at: datetime) -> None:
        self.trigger_event(self.EmployeeInsuranceReported, year=year, at=at,
                           timestamp=recorded_at)

    def recognise_identity(self, recorded_at: datetime, **facts: Any) -> None:
        self.trigger_event(self.IdentityRecognised, timestamp=recorded_at, **facts)

    def enroll(self, recorded_at: datetime, **decision: Any) -> None:
        self.trigger_event(self.Enrolled, timestamp=recorded_at, **decision)

    def pay(self, recorded_at: datetime, **decision: Any) -> None:
        self.trigger_event(self.ContributionPaid, timestamp=recorded_at, **decision)

    def grant_subsidy(self, recorded_at: datetime, **decision: Any) -> None:
        self.trigger_event(self.SubsidyGranted, timestamp=recorded_at, **decision)

    def refund(self, recorded_at: datetime, **decision: Any) -> None:
        self.trigger_event(self.Refunded, timestamp=recorded_at, **decision)

    # --- queries ---------------------------------------------------------------------------

    def year(self, year: int) -> PersonYear | None:
        return self.years.get(year)

    def covered_years(self) -> list[int]:
        return sorted(y for y, py in self.years.items() if py.covered_from and not py.terminated)


class Household(HouseholdPool, Aggregate):
    """One 医保户 for one benefit year: its members and every claim against its pool."""

    class Formed(Aggregate.Created):
        head: str
        year: int
        region: str
        at: datetime
        per_person_cap: Money | None
        policy_id: str | None
        policy_version: str | None

        class_version = 2
        upcast_v1_v2 = staticmethod(no_pool_terms)

    def __init__(self, head: str, year: int, region: str, at: datetime,
                 per_person_cap: Money | None = None, policy_id: str | None = None,
                 policy_version: str | None = None) -> None:
        self.head = head
        self.year = year
        self.region = region
        self.formed_at = at
        #: The outpatient cap per counting member under the policy that formed the household
        #: (None for households recorded before it was named).
        self.per_person_cap = per_person_cap
        self.policy_id = policy_id
        self.policy_version = policy_version
        self.members: dict[str, Member] = {}
        self.claims: dict[str, SettledClaim] = {}
        self.used_total = ZERO
        self.used_by_person: dict[str, Money] = {}

    @classmethod
    def form(cls, *, head: str, year: int, region: str, at: datetime, per_person_cap: Money,
             policy_id: str, policy_version: str, recorded_at: datetime,
             ids: StreamIds = PUBLIC_IDS) -> Household:
        return cls._create(cls.Formed, id=ids.household(head, year), head=head, year=year,
                           region=region, at=at, per_person_cap=per_person_cap,
                           policy_id=policy_id, policy_version=policy_version,
                           timestamp=recorded_at)

    class MemberJoined(Aggregate.Event):
        person: str
        region: str
        at: datetime

        def apply(self, h: Household) -> None:
            h.members[self.person] = Member(self.person, self.region)

    class MemberCovered(Aggregate.Event):
        person: str
        covered_from: date
        covered_to: date
        at: datetime

        def apply(self, h: Household) -> None:
            m = h.members[self.person]
            m.covered_from = self.covered_from
            m.covered_to = self.covered_to

    class MemberSuspended(Aggregate.Event):
        person: str
        reason: str
        at: datetime

        def apply(self, h: Household) -> None:
            h.members[self.person].suspended = True

    class MemberLeft(Aggregate.Event):
        person: str
        reason: str
        at: datetime

        def apply(self, h: Household) -> None:
            h.members[self.person].left = True

    class OutpatientClaimSettled(Aggregate.Event):
        claim_id: str
        person: str
        visit_date: date
        facility_level: int
        facility_region: str
        expense: Money
        cause: str
        at: datetime
        pooling: str
        eligible_expense: Money
        reimbursable: Money
        reimbursed: Money
        pool_cap: Money
        pool_used_before: Money
        pool_remaining_after: Money
        policy_id: str
        policy_version: str
        explanation: str
        policy_hash: str | None
        third_party_share: Decimal | None

        class_version = 3
        upcast_v1_v2 = staticmethod(no_policy_hash)
        upcast_v2_v3 = staticmethod(no_third_party_share)

        def apply(self, h: Household) -> None:
            h.claims[self.claim_id] = SettledClaim.of(self)
            h.used_total = h.used_total + self.reimbursed
            before = h.used_by_person.get(self.person, ZERO)
            h.used_by_person[self.person] = before + self.reimbursed

    class ClaimReversed(Aggregate.Event):
        claim_id: str
        reason: str
        at: datetime
        amount: Money

        def apply(self, h: Household) -> None:
            claim = h.claims[self.claim_id]
            claim.reversed = True
            h.used_total = h.used_total - claim.reimbursed
            h.used_by_person[claim.person] = h.used_by_person[claim.person] - claim.reimbursed

    def join(self, person: str, region: str, at: datetime, recorded_at: datetime) -> None:
        self.trigger_event(self.MemberJoined, person=person, region=region, at=at,
                           timestamp=recorded_at)

    def cover(self, person: str, covered_from: date, covered_to: date, at: datetime,
              recorded_at: datetime) -> None:
        self.trigger_event(self.MemberCovered, person=person, covered_from=covered_from,
                           covered_to=covered_to, at=at, timestamp=recorded_at)

    def suspend(self, person: str, reason: str, at: datetime, recorded_at: datetime) -> None:
        self.trigger_event(self.MemberSuspended, person=person, reason=reason, at=at,
                           timestamp=recorded_at)

    def leave(self, person: str, reason: str, at: datetime, recorded_at: datetime) -> None:
        self.trigger_event(self.MemberLeft, person=person, reason=reason, at=at,
                           timestamp=recorded_at)

    def settle_claim(self, recorded_at: datetime, **decision: Any) -> None:
        self.trigger_event(self.OutpatientClaimSettled, timestamp=recorded_at, **decision)

    def reverse_claim(self, claim_id: str, reason: str, at: datetime,
                      recorded_at: datetime) -> None:
        self.trigger_event(self.ClaimReversed, claim_id=claim_id, reason=reason, at=at,
                           amount=self.claims[claim_id].reimbursed, timestamp=recorded_at)


class PaymentRef(Aggregate):
    """Claims a payment reference for one payment, so no reference is recorded twice."""

    class Claimed(Aggregate.Created):
        payment_ref: str
        person: str
        year: int

    def __init__(self, payment_ref: str, person: str, year: int) -> None:
        self.payment_ref = payment_ref
        self.person = person
        self.year = year

    @classmethod
    def claim(cls, payment_ref: str, person: str, year: int, recorded_at: datetime) -> PaymentRef:
        return cls._create(cls.Claimed, id=payment_ref_id(payment_ref), payment_ref=payment_ref,
                           person=person, year=year, timestamp=recorded_at)


class ClaimRef(Aggregate):
    """A clinic's claim id: the household that settled it, or reversed before it came (ADR 46)."""

    class Claimed(Aggregate.Created):
        claim_id: str
        household: UUID
        person: str

    class Withdrawn(Aggregate.Created):
        claim_id: str
        reason: str
        at: datetime

    def __init__(self, claim_id: str, household: UUID | None = None, person: str | None = None,
                 reason: str | None = None, at: datetime | None = None) -> None:
        self.claim_id = claim_id
        self.household = household  # None: withdrawn before it arrived
        self.person = person
        self.withdrawn_for = reason

    @classmethod
    def withdraw(cls, claim_id: str, reason: str, at: datetime, recorded_at: datetime) -> Any:
        return cls._create(cls.Withdrawn, id=claim_ref_id(claim_id), claim_id=claim_id,
                           reason=reason, at=at, timestamp=recorded_at)

    @classmethod
    def claim(cls, claim_id: str, household: UUID, person: str,
              recorded_at: datetime) -> ClaimRef:
        return cls._create(cls.Claimed, id=claim_ref_id(claim_id), claim_id=claim_id,
                           household=household, person=person, timestamp=recorded_at)


class RefundRef(Aggregate):
    """Claims a refund reference for one refund, so no reference is recorded twice."""

    class Claimed(Aggregate.Created):
        refund_ref: str
        person: str
        year: int

    def __init__(self, refund_ref: str, person: str, year: int) -> None:
        self.refund_ref = refund_ref
        self.person = person
        self.year = year

    @classmethod
    def claim(cls, refund_ref: str, person: str, year: int, recorded_at: datetime) -> RefundRef:
        return cls._create(cls.Claimed, id=refund_ref_id(refund_ref), refund_ref=refund_ref,
                           person=person, year=year, timestamp=recorded_at)


class CommandRef(Aggregate):
    """A command applied under a `command_id` (an idempotency key, ADR 44): its op, the digest
    of its facts and the result it was answered with, so a re-send gets that result again."""

    class Recorded(Aggregate.Created):
        command_id: str
        op: str
        digest: str
        result: dict[str, Any]

    def __init__(self, command_id: str, op: str, digest: str, result: dict[str, Any]) -> None:
        self.command_id = command_id
        self.op = op
        self.digest = digest
        self.result = result

    @classmethod
    def record(cls, command_id: str, op: str, digest: str, result: dict[str, Any],
               recorded_at: datetime) -> CommandRef:
        return cls._create(cls.Recorded, id=command_ref_id(command_id), command_id=command_id,
                           op=op, digest=digest, result=result, timestamp=recorded_at)
