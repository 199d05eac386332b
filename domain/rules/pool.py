"""The household pool (seed 001): who counts for the cap, the cap itself, and what is left.

Every place that works out a pool — the claim decision, the read models, the what-if engines,
the audit — calls these functions, or is proved equal to them by a property test (the NumPy
kernel of the fast what-if engine).
"""

from __future__ import annotations

from datetime import date

from domain.money import ZERO, Money


def counts_for_cap(covered_from: date | None, suspended: bool, left: bool,
                   on: date | None = None) -> bool:
    """A member's share counts toward the household's cap while they are covered (from
    `covered_from`, by the day `on` when given), not suspended (reported in employee
    insurance) and not gone (refunded out of the year) — ADR 11."""
    return (covered_from is not None and not suspended and not left
            and (on is None or covered_from <= on))


def pool_cap(per_person_cap: Money, members_counting: int) -> Money:
    """The pooled cap: the per-person cap times the members who count (250 × n, seed 001)."""
    return Money(per_person_cap.fen * members_counting)


def pool_remaining(cap: Money, used: Money) -> Money:
    """What is left of a pool: its cap less what was reimbursed, never below zero."""
    return max(ZERO, cap - used)
