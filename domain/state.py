"""The aggregates' state objects: a person's year, a household member, a settled claim."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.money import ZERO, Money
from domain.rules import standing
from domain.rules.pool import counts_for_cap, pool_cap


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

    @classmethod
    def enrolled(cls, e: Any) -> PersonYear:
        """The person-year a `Person.Enrolled` event opens, nothing paid yet."""
        return cls(
            year=e.year, region=e.region, household_head=e.household_head,
            category=e.category, identity=e.identity, policy_id=e.policy_id,
            policy_version=e.policy_version, standard=e.standard, subsidy=e.subsidy,
            subsidy_basis=e.subsidy_basis, due=e.due, paid=ZERO, refunded=ZERO,
            covered_from=e.covered_from, terminated=False,
            subsidy_granted_on=e.at.date() if e.subsidy_basis else None,
            prior_insured=e.prior_insured, broken_years=e.broken_years,
            back_paid_years=e.back_paid_years, enrolled_at=e.at, payments=[],
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PersonYear) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __deepcopy__(self, memo: dict) -> PersonYear:
        return PersonYear(**{n: getattr(self, n) for n in self.__slots__})

    @property
    def net_paid(self) -> Money:
        return standing.net_paid(self.paid, self.refunded)

    @property
    def credit(self) -> Money:
        return standing.credit(self.paid, self.refunded, self.due)

    @property
    def settled(self) -> bool:
        return not self.terminated and standing.is_settled(self.paid, self.refunded, self.due)


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
        return counts_for_cap(self.covered_from, self.suspended, self.left)


class SettledClaim:
    """One claim as recorded on the household (aggregate state)."""

    __slots__ = ("claim_id", "person", "visit_date", "facility_level", "facility_region",
                 "expense", "cause", "at", "eligible_expense", "reimbursable", "reimbursed",
                 "pool_cap", "pool_used_before", "pool_remaining_after", "policy_id",
                 "policy_version", "explanation", "reversed", "third_party_share")

    def __init__(self, **kw: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, kw.get(name))
        self.reversed = bool(kw.get("reversed"))

    @classmethod
    def of(cls, settled: Any) -> SettledClaim:
        """The claim an `OutpatientClaimSettled` event records (not reversed)."""
        return cls(**{n: getattr(settled, n) for n in cls.__slots__ if n != "reversed"})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SettledClaim) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __deepcopy__(self, memo: dict) -> SettledClaim:
        return SettledClaim(**{n: getattr(self, n) for n in self.__slots__})


class HouseholdPool:
    """The pool arithmetic of a `Household` aggregate (its members, caps and use)."""

    members: dict[str, Member]
    per_person_cap: Money | None
    used_total: Money
    used_by_person: dict[str, Money]

    def covered_members(self, on: date | None = None) -> list[str]:
        """Members whose 250 counts toward the cap: covered (by `on`, when given)."""
        return [m.person for m in self.members.values()
                if counts_for_cap(m.covered_from, m.suspended, m.left, on)]

    def cap_each(self, in_force: Money | None) -> Money | None:
        """The per-person cap it was formed under, else (not recorded then) `in_force`."""
        return self.per_person_cap if self.per_person_cap is not None else in_force

    def cap(self, per_person_cap: Money, on: date | None = None) -> Money:
        """The pooled cap under a per-person cap: it times the members who count (on `on`)."""
        return pool_cap(per_person_cap, len(self.covered_members(on)))

    def used(self, person: str | None = None) -> Money:
        """Reimbursed so far (not reversed), by the whole household or by one member."""
        if person is None:
            return self.used_total
        return self.used_by_person.get(person, ZERO)
