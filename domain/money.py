"""Exact money in integer fen; parsing from decimal strings, half-up rounding."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from attrs import frozen

from domain.errors import InvalidInput

_MONEY = re.compile(r"^(-?)([0-9]{1,12})(?:\.([0-9]{1,2}))?$")
MAX_FEN = 10**12  # 10 billion yuan: far above any real contribution or expense


@frozen
class Money:
    """An amount of yuan held as a whole number of fen (1 yuan = 100 fen)."""

    fen: int

    def __attrs_post_init__(self) -> None:
        if type(self.fen) is not int:
            raise TypeError(f"Money needs integer fen, got {type(self.fen).__name__}")

    @classmethod
    def parse(cls, text: object, field: str = "amount") -> Money:
        """Parse a contract money string ("280.00", "12.5"); floats and 3 decimals are refused."""
        if not isinstance(text, str):
            raise InvalidInput(
                f"{field} must be a decimal string in yuan such as \"280.00\", "
                f"not {_kind(text)}"
            )
        m = _MONEY.fullmatch(text)
        if m is None:
            raise InvalidInput(
                f"{field} must be a decimal string with at most 2 decimals, got {text!r}"
            )
        sign, whole, frac = m.groups()
        fen = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
        if fen > MAX_FEN:
            raise InvalidInput(f"{field} {text!r} is larger than any amount the ledger accepts")
        return cls(-fen if sign else fen)

    @classmethod
    def yuan(cls, value: int | str | Decimal) -> Money:
        """Build from whole yuan or an exact decimal (for code and tests, not user input)."""
        d = Decimal(str(value))
        q = (d * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        if q != d * 100:
            raise ValueError(f"{value!r} has more than two decimals")
        return cls(int(q))

    @classmethod
    def zero(cls) -> Money:
        return ZERO

    def __lt__(self, other: Money) -> bool:
        return self.fen < other.fen

    def __le__(self, other: Money) -> bool:
        return self.fen <= other.fen

    def __gt__(self, other: Money) -> bool:
        return self.fen > other.fen

    def __ge__(self, other: Money) -> bool:
        return self.fen >= other.fen

    def __add__(self, other: Money) -> Money:
        return Money(self.fen + other.fen)

    def __sub__(self, other: Money) -> Money:
        return Money(self.fen - other.fen)

    def __neg__(self) -> Money:
        return Money(-self.fen)

    def times(self, factor: Decimal | int) -> Money:
        """Multiply by an exact factor, rounding half-up to the fen."""
        product = Decimal(self.fen) * Decimal(factor)
        return Money(int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP)))

    def clip(self, low: Money, high: Money) -> Money:
        return max(low, min(self, high))

    def is_positive(self) -> bool:
        return self.fen > 0

    def is_negative(self) -> bool:
        return self.fen < 0

    def __str__(self) -> str:
        sign = "-" if self.fen < 0 else ""
        whole, frac = divmod(abs(self.fen), 100)
        return f"{sign}{whole}.{frac:02d}"

    def __repr__(self) -> str:
        return f"Money('{self}')"


ZERO = Money(0)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float) or type(value).__name__ == "Decimal":
        return f"the number {value} (write it as a string)"
    return "null" if value is None else type(value).__name__


def total(amounts) -> Money:
    """Sum Money values; the empty sum is zero."""
    return Money(sum(a.fen for a in amounts))
