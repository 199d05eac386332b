"""What one batch of a catch-up writes: the person-year working state and the row buffers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

IN_CHUNK = 500


class PersonYearState:
    """A person-year's state as the views fold it (mirrors `PersonYear`)."""

    __slots__ = ("region", "head", "category", "identity", "basis", "due", "subsidy", "paid",
                 "refunded", "covered_from", "terminated", "rule", "fiscal")

    @classmethod
    def from_row(cls, row: Any) -> PersonYearState:
        s = cls()
        s.region, s.head, s.category = row.region, row.household_head, row.category
        s.identity, s.basis = row.identity, row.subsidy_basis
        s.due, s.subsidy, s.paid, s.refunded = (row.due_fen, row.subsidy_fen, row.paid_fen,
                                                row.refunded_fen)
        s.covered_from, s.terminated, s.rule = row.covered_from, row.terminated, row.rule
        s.fiscal = None  # not in the table: the next event of the person-year names it
        return s


class Batch:
    """The rows one batch writes."""

    def __init__(self) -> None:
        self.registry: list[dict[str, Any]] = []
        self.person_years: list[dict[str, Any]] = []
        self.households: dict[str, dict[str, Any]] = {}
        self.members: dict[tuple[str, str], dict[str, Any]] = {}
        self.claims: dict[str, dict[str, Any]] = {}
        self.reversals: list[dict[str, Any]] = []
        self.fund: defaultdict[tuple[str, int, str, str], int] = defaultdict(int)
        self.enrollment: defaultdict[tuple[str, int, str], list[int]] = defaultdict(
            lambda: [0, 0, 0])
        self.roster: list[dict[str, Any]] = []

    def household_rows(self) -> list[dict[str, Any]]:
        return list(self.households.values())

    def member_rows(self) -> list[dict[str, Any]]:
        return list(self.members.values())


_DAYS: dict[int, str] = {}


def day(at: Any) -> str:
    """The business date of a timestamp, as ISO text (cached: few distinct days recur)."""
    ordinal = at.toordinal()
    day = _DAYS.get(ordinal)
    if day is None:
        day = _DAYS[ordinal] = at.date().isoformat()
    return day


@lru_cache(maxsize=4096)
def iso_date(text: str) -> date:
    return date.fromisoformat(text)


def iso(d: Any) -> str | None:
    return None if d is None else d.isoformat()


def chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), IN_CHUNK):
        yield items[i:i + IN_CHUNK]


def settled_once(claim_id: str, *settled: Any) -> None:
    """Refuse a claim id met again among those already `settled` (containers of claim ids):
    the ledger settles an id once (`ClaimRef`), so a second settlement in the log is a forged
    copy, which every read model refuses (raising ValueError, as an unfoldable event)."""
    if any(claim_id in seen for seen in settled):
        raise ValueError(f"claim {claim_id} is settled a second time")
