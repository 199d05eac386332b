"""A person-year's money standing: what was paid net of refunds, the credit beyond what is
due, and whether the contribution is settled (so that coverage can start)."""

from __future__ import annotations

from datetime import date

from domain.money import ZERO, Money


def net_paid(paid: Money, refunded: Money) -> Money:
    return paid - refunded


def credit(paid: Money, refunded: Money, due: Money) -> Money:
    """Paid less refunded less due, never below zero: what a refund may return (ADR 10)."""
    return max(ZERO, net_paid(paid, refunded) - due)


def is_settled(paid: Money, refunded: Money, due: Money) -> bool:
    """Whether what was paid, net of refunds, covers what is due."""
    return net_paid(paid, refunded) >= due


def starts_coverage(covered_from: date | None, paid: Money, refunded: Money,
                    due: Money) -> bool:
    """Whether a person-year not yet covered becomes covered now: its contribution is settled
    (the coverage rule then decides from which day, `rules.coverage.coverage_start`)."""
    return covered_from is None and is_settled(paid, refunded, due)
