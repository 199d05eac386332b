"""Fakes over mocks: an in-memory `Aggregates` port and a world of commands driven through the
real service."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.aggregates import ClaimRef, CommandRef, Household, PaymentRef, Person, RefundRef
from domain.commands import parse_command
from domain.errors import Rejected
from domain.ids import (
    claim_ref_id,
    command_ref_id,
    household_id,
    payment_ref_id,
    person_id,
    refund_ref_id,
)
from domain.policy_book import PolicyBook
from domain.ports import Outcome
from domain.service import LedgerService
from tests.support.builders import RECORDED_AT


class FakeAggregates:
    """A dict-backed `Aggregates` port: the aggregates live in memory between commands."""

    def __init__(self) -> None:
        self.store: dict[UUID, Any] = {}
        self.events: list[Any] = []

    def _get(self, aggregate_id: UUID) -> Any:
        return self.store.get(aggregate_id)

    def person(self, key: str) -> Person | None:
        return self._get(person_id(key))

    def household(self, head: str, year: int) -> Household | None:
        return self._get(household_id(head, year))

    def household_by_id(self, hid: UUID) -> Household | None:
        return self._get(hid)

    def payment_ref(self, ref: str) -> PaymentRef | None:
        return self._get(payment_ref_id(ref))

    def claim_ref(self, claim_id: str) -> ClaimRef | None:
        return self._get(claim_ref_id(claim_id))

    def refund_ref(self, ref: str) -> RefundRef | None:
        return self._get(refund_ref_id(ref))

    def command_ref(self, command_id: str) -> CommandRef | None:
        return self._get(command_ref_id(command_id))

    def save(self, outcome: Outcome) -> list[Any]:
        """Remember the changed aggregates; returns (and keeps) their new events."""
        new: list[Any] = []
        for aggregate in outcome.changed:
            new.extend(aggregate.collect_events())
            self.store[aggregate.id] = aggregate
        self.events.extend(new)
        return new

    def pending(self) -> list[Any]:
        """Events triggered on stored aggregates but never saved (should stay empty)."""
        return [e for agg in self.store.values() for e in agg.pending_events]

    def versions(self) -> dict[UUID, int]:
        return {aid: agg.version for aid, agg in self.store.items()}


class World:
    """A LedgerService over a FakeAggregates port, driven by contract command objects."""

    def __init__(self, book: PolicyBook) -> None:
        self.book = book
        self.service = LedgerService(book)
        self.port = FakeAggregates()

    def handle(self, command: dict[str, Any]) -> tuple[Outcome, list[Any]]:
        """Parse and handle a command; save what changed. Raises Rejected."""
        outcome = self.service.handle(parse_command(command), self.port, RECORDED_AT)
        return outcome, self.port.save(outcome)

    def ok(self, **command: Any) -> dict[str, Any]:
        return self.handle(command)[0].fields

    def events(self, **command: Any) -> list[Any]:
        return self.handle(command)[1]

    def reject(self, **command: Any) -> str:
        """The reason code of a command that must be refused."""
        try:
            outcome, _ = self.handle(command)
        except Rejected as e:
            return e.reason
        raise AssertionError(f"{command['op']} was accepted: {outcome.fields}")

    # --- shorthands ------------------------------------------------------------------------

    def register(self, person: str, region: str = "341225", at: str = "2020-09-01",
                 **extra: Any) -> dict[str, Any]:
        return self.ok(op="register", person=person, name="测试", region=region, at=at,
                       **extra)

    def enroll(self, person: str, year: int = 2021, region: str = "341225",
               at: str = "2020-09-10", **extra: Any) -> dict[str, Any]:
        return self.ok(op="enroll", person=person, year=year, region=region, at=at, **extra)

    def pay(self, person: str, amount: str = "280.00", year: int = 2021,
            at: str = "2020-10-01", channel: str = "cash", ref: str | None = None,
            **extra: Any) -> dict[str, Any]:
        ref = ref or f"pay-{person}-{year}-{len(self.port.events)}"
        return self.ok(op="pay", person=person, year=year, amount=amount, channel=channel,
                       payment_ref=ref, at=at, **extra)

    def member(self, person: str, head: str | None = None, region: str = "341225",
               year: int = 2021, amount: str | None = "280.00", enroll_at: str = "2020-09-10",
               pay_at: str = "2020-10-01", register_at: str = "2019-01-01",
               **enroll_extra: Any) -> dict[str, Any]:
        """Register, enroll (in head's household if given) and pay in full."""
        self.register(person, region=region, at=register_at)
        if head is not None:
            enroll_extra["household_head"] = head
        result = self.enroll(person, year=year, region=region, at=enroll_at, **enroll_extra)
        if amount is not None:
            result = self.pay(person, amount=amount, year=year, at=pay_at)
        return result

    def claim(self, claim_id: str, person: str, expense: str, visit_date: str = "2021-03-01",
              facility_level: int = 1, facility_region: str = "341225",
              **extra: Any) -> dict[str, Any]:
        return self.ok(op="claim", claim_id=claim_id, person=person, visit_date=visit_date,
                       facility_level=facility_level, facility_region=facility_region,
                       expense=expense, at=f"{visit_date}T10:00:00+08:00", **extra)
