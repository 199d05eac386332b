"""How payers answer a change in what they owe (what-if behaviour, ADRs 81, 95): pay the new
due, drop out, or (enrolled and never paid) join, with a probability set by a take-up
elasticity. Pure: no clock, no randomness
but a hash of (seed, person, year)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from fractions import Fraction

from domain.money import Money

PAY_NEW_DUE = "pay-new-due"
RECORDED = "recorded"
BEHAVIOURS = (PAY_NEW_DUE, RECORDED)


def new_due_payment(amount: Money, baseline_due: Money, reform_due: Money) -> Money | None:
    """The covering payment a payer makes when the reform changes the net due: the recorded
    amount plus the change of the due; None when the change takes it to nothing or less
    (earlier instalments then already meet the new due)."""
    paid = Money(amount.fen + reform_due.fen - baseline_due.fen)
    return paid if paid.fen > 0 else None


def take_up_change(elasticity: Decimal, baseline_due: Money, reform_due: Money) -> Fraction:
    """The relative change of enrollment a change of the net due causes: elasticity ×
    (reform due − baseline due) / baseline due. No change where the baseline due is nothing
    (a percentage of nothing is not defined) or the due did not change."""
    if baseline_due.fen <= 0 or reform_due.fen == baseline_due.fen:
        return Fraction(0)
    return Fraction(elasticity) * Fraction(reform_due.fen - baseline_due.fen, baseline_due.fen)


def draw(seed: int, person_key: str, year: int) -> Fraction:
    """A uniform number in [0, 1) fixed by (seed, person, year): the same run gives the same
    drop-outs, and a person's draw does not depend on who else is in scope."""
    digest = hashlib.sha256(f"{seed}:{person_key}:{year}".encode()).digest()
    return Fraction(int.from_bytes(digest[:8], "big"), 1 << 64)


def drops_out(change: Fraction, u: Fraction) -> bool:
    """Whether a payer leaves: with probability −change when enrollment falls (at most 1)."""
    return change < 0 and u < -change


def joins(change: Fraction, u: Fraction) -> bool:
    """Whether an enrolled person who never paid now pays: with probability `change` when
    enrollment rises (at most 1)."""
    return change > 0 and u < change
