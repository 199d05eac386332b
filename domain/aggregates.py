"""Event-sourced aggregates: Person, Household (one per head and benefit year) and two
uniqueness indexes (payment references, claim ids).

Events are the library's frozen dataclasses. Their class names and field names are stored
schema: add fields with defaults and upcast, never rename. Every deciding event carries the
facts its decision used and the policy id/version that decided.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from attrs import frozen
from eventsourcing.domain import Aggregate

from domain.money import ZERO, Money
from domain.rules.coverage import CoverageFacts

NAMESPACE = uuid5(NAMESPACE_URL, "https://benefitpool.example/ledger")


@frozen
class StreamIds:
    """How the streams of persons and households are named after their ID numbers: uuid5 in
    a namespace. The public namespace gives ids anyone can recompute from an ID number; a
    namespace derived from a secret (by the adapters, ADR 25) gives ids that say nothing of
    the numbers behind them."""

    namespace: UUID = NAMESPACE

    def person(self, key: str) -> UUID:
        return _person_id(self.namespace, key)

    def household(self, head_key: str, year: int) -> UUID:
        return _household_id(self.namespace, head_key, year)


PUBLIC_IDS = StreamIds()


@lru_cache(maxsize=65536)
def _person_id(namespace: UUID, key: str) -> UUID:
    return uuid5(namespace, f"person:{key}")


@lru_cache(maxsize=65536)
def _household_id(namespace: UUID, head_key: str, year: int) -> UUID:
    return uuid5(namespace, f"household:{head_key}:{year}")


def person_id(key: str) -> UUID:
    """A person's stream id under the public namespace."""
    return _person_id(NAMESPACE, key)


def household_id(head_key: str, year: int) -> UUID:
    """A household's stream id under the public namespace."""
    return _household_id(NAMESPACE, head_key, year)


@lru_cache(maxsize=65536)
def payment_ref_id(ref: str) -> UUID:
    return uuid5(NAMESPACE, f"payment_ref:{ref}")


@lru_cache(maxsize=65536)
def claim_ref_id(claim_id: str) -> UUID:
    return uuid5(NAMESPACE, f"claim:{claim_id}")


def _no_policy_hash(state: dict[str, Any]) -> None:
    """Upcast: events recorded before decisions named their policy's content hash."""
    state["policy_hash"] = None


class PersonYear:
    """A person's enrollment, money and coverage for one benefit year (aggregate state)."""

    __slots__ = (
        "year", "region", "household_head", "category", "identity", "policy_id",
        "policy_version", "standard", "subsidy", "subsidy_basis", "due", "paid", "refunded",
        "covered_from", "terminated", "subsidy_granted_on", "prior_insured", "broken_years",
        "back_paid_years", "enrolled_at", "payments",
    )

    def __init__(self, **kw: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, kw.get(name))
        self.payments = list(kw.get("payments") or [])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PersonYear) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __deepcopy__(self, memo: dict) -> PersonYear:
        return PersonYear(**{n: getattr(self, n) for n in self.__slots__})

    @property
    def net_paid(self) -> Money:
        return self.paid - self.refunded

    @property
    def credit(self) -> Money:
        return max(ZERO, self.paid - self.refunded - self.due)

    @property
    def settled(self) -> bool:
        return not self.terminated and self.net_paid >= self.due


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

    def __init__(self, person_key: str, number: str, standard_id: bool, name: str, region: str,
                 birth_date: date, sex: str | None, residence_permit: bool, at: datetime) -> None:
        self.key = person_key
        self.number = number
        self.standard_id = standard_id
        self.name = name
        self.region = region
        self.birth_date = birth_date
        self.sex = sex
        self.residence_permit = residence_permit
        self.registered_at = at
        self.years: dict[int, PersonYear] = {}
        self.employee_years: set[int] = set()

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

        class_version = 2
        upcast_v1_v2 = staticmethod(_no_policy_hash)

        def apply(self, p: Person) -> None:
            p.years[self.year] = PersonYear(
                year=self.year, region=self.region, household_head=self.household_head,
                category=self.category, identity=self.identity, policy_id=self.policy_id,
                policy_version=self.policy_version, standard=self.standard,
                subsidy=self.subsidy, subsidy_basis=self.subsidy_basis, due=self.due,
                paid=ZERO, refunded=ZERO, covered_from=self.covered_from, terminated=False,
                subsidy_granted_on=self.at.date() if self.subsidy_basis else None,
                prior_insured=self.prior_insured, broken_years=self.broken_years,
                back_paid_years=self.back_paid_years, enrolled_at=self.at, payments=[],
            )

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

        class_version = 2
        upcast_v1_v2 = staticmethod(_no_policy_hash)

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

        class_version = 2
        upcast_v1_v2 = staticmethod(_no_policy_hash)

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

        class_version = 2
        upcast_v1_v2 = staticmethod(_no_policy_hash)

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


class Member:
    """A household member's standing in the pool (aggregate state)."""

    __slots__ = ("person", "region", "covered_from", "covered_to", "suspended", "left")

    def __init__(self, person: str, region: str) -> None:
        self.person = person
        self.region = region
        self.covered_from: date | None = None
        self.covered_to: date | None = None
        self.suspended = False
        self.left = False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Member) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __deepcopy__(self, memo: dict) -> Member:
        m = Member(self.person, self.region)
        m.covered_from, m.covered_to = self.covered_from, self.covered_to
        m.suspended, m.left = self.suspended, self.left
        return m

    @property
    def counts_for_cap(self) -> bool:
        return self.covered_from is not None and not self.suspended and not self.left


class SettledClaim:
    """One claim as recorded on the household (aggregate state)."""

    __slots__ = ("claim_id", "person", "visit_date", "facility_level", "facility_region",
                 "expense", "cause", "at", "eligible_expense", "reimbursable", "reimbursed",
                 "pool_cap", "pool_used_before", "pool_remaining_after", "policy_id",
                 "policy_version", "explanation", "reversed")

    def __init__(self, **kw: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, kw.get(name))
        self.reversed = bool(kw.get("reversed"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SettledClaim) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __deepcopy__(self, memo: dict) -> SettledClaim:
        return SettledClaim(**{n: getattr(self, n) for n in self.__slots__})


class Household(Aggregate):
    """One 医保户 for one benefit year: its members and every claim against its pool."""

    class Formed(Aggregate.Created):
        head: str
        year: int
        region: str
        at: datetime

    def __init__(self, head: str, year: int, region: str, at: datetime) -> None:
        self.head = head
        self.year = year
        self.region = region
        self.formed_at = at
        self.members: dict[str, Member] = {}
        self.claims: dict[str, SettledClaim] = {}
        self.used_total = ZERO
        self.used_by_person: dict[str, Money] = {}

    @classmethod
    def form(cls, *, head: str, year: int, region: str, at: datetime,
             recorded_at: datetime, ids: StreamIds = PUBLIC_IDS) -> Household:
        return cls._create(cls.Formed, id=ids.household(head, year), head=head, year=year,
                           region=region, at=at, timestamp=recorded_at)

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

        class_version = 2
        upcast_v1_v2 = staticmethod(_no_policy_hash)

        def apply(self, h: Household) -> None:
            h.claims[self.claim_id] = SettledClaim(
                claim_id=self.claim_id, person=self.person, visit_date=self.visit_date,
                facility_level=self.facility_level, facility_region=self.facility_region,
                expense=self.expense, cause=self.cause, at=self.at,
                eligible_expense=self.eligible_expense, reimbursable=self.reimbursable,
                reimbursed=self.reimbursed, pool_cap=self.pool_cap,
                pool_used_before=self.pool_used_before,
                pool_remaining_after=self.pool_remaining_after, policy_id=self.policy_id,
                policy_version=self.policy_version, explanation=self.explanation,
            )
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

    # --- pool arithmetic -------------------------------------------------------------------

    def covered_members(self, on: date | None = None) -> list[str]:
        """Members whose 250 counts toward the cap: covered (by `on`, when given)."""
        return [m.person for m in self.members.values() if m.counts_for_cap
                and (on is None or m.covered_from <= on)]

    def used(self, person: str | None = None) -> Money:
        """Reimbursed so far (not reversed), by the whole household or by one member."""
        if person is None:
            return self.used_total
        return self.used_by_person.get(person, ZERO)


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
    """Maps a clinic's claim id to the household that settled it (idempotency, reversal)."""

    class Claimed(Aggregate.Created):
        claim_id: str
        household: UUID
        person: str

    def __init__(self, claim_id: str, household: UUID, person: str) -> None:
        self.claim_id = claim_id
        self.household = household
        self.person = person

    @classmethod
    def claim(cls, claim_id: str, household: UUID, person: str,
              recorded_at: datetime) -> ClaimRef:
        return cls._create(cls.Claimed, id=claim_ref_id(claim_id), claim_id=claim_id,
                           household=household, person=person, timestamp=recorded_at)
