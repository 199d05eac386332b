"""How a cited seed sentence's worked example maps to the figure shown beside it (issue 16).

Seed 001 states the household cap twice: "250元/人" and, as an example, "全户…不超过1000元" —
a four-person household. Shown beside a household whose cap is 1,500, the 1,000 reads as a
contradiction; the note says what the example is and how this household's figure follows
from the same rule.
"""

from __future__ import annotations

import re
from decimal import Decimal

from domain.money import Money

_AMOUNT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*元")


def yuan_text(amount: Money) -> str:
    """An amount as a sentence writes it: 1,500 for whole yuan, 1,500.50 otherwise."""
    value = Decimal(amount.fen) / 100
    return f"{value:,.0f}" if amount.fen % 100 == 0 else f"{value:,.2f}"


def cap_example(cited: str | None, per_person_cap: Money, covered: int | None = None
                ) -> str | None:
    """The note for a cited sentence that gives a household total as an example of the
    per-person cap (an amount in 元 that is 2 or more times the cap): "the seed's example is a
    4-person household: 4 × 250 = 1,000", then, for a household with `covered` members
    counting, "; this household has 6 covered: 6 × 250 = 1,500". None when the sentence gives
    no such example."""
    if not cited or not per_person_cap.is_positive():
        return None
    for match in _AMOUNT.finditer(cited):
        try:
            total = Money.yuan(Decimal(match.group(1).replace(",", "")))
        except ValueError:  # more than two decimals: not an amount of money
            continue
        persons, rest = divmod(total.fen, per_person_cap.fen)
        if rest or persons < 2:
            continue
        each = yuan_text(per_person_cap)
        note = (f"the seed's example is a {persons}-person household: {persons} × {each} = "
                f"{yuan_text(total)}")
        if covered is not None:
            here = Money(per_person_cap.fen * covered)
            note += (f"; this household has {covered} covered: {covered} × {each} = "
                     f"{yuan_text(here)}")
        return note
    return None
