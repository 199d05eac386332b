"""The service's port and its answer: how handlers load aggregates, and what they return."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol
from uuid import UUID

from attrs import frozen

from domain.aggregates import ClaimRef, CommandRef, Household, PaymentRef, Person, RefundRef
from domain.money import Money


class Aggregates(Protocol):
    """The port through which handlers load aggregates (None when absent)."""

    def person(self, key: str) -> Person | None: ...
    def household(self, head: str, year: int) -> Household | None: ...
    def household_by_id(self, household_id: UUID) -> Household | None: ...
    def payment_ref(self, ref: str) -> PaymentRef | None: ...
    def refund_ref(self, ref: str) -> RefundRef | None: ...
    def claim_ref(self, claim_id: str) -> ClaimRef | None: ...
    def command_ref(self, command_id: str) -> CommandRef | None: ...


@frozen
class Outcome:
    """The contract's result fields and the aggregates whose new events must be saved."""

    fields: dict[str, Any]
    changed: tuple[Any, ...] = ()
    message: str = ""


def as_text(value: Money | date | None) -> str | None:
    return None if value is None else str(value) if isinstance(value, Money) else value.isoformat()
