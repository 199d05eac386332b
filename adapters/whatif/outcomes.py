"""Per-claim outcomes kept as columns: a read-only mapping claim id -> `ClaimOutcome`.

The fast engine decides a million claims as arrays; turning them into a million tuples in a
dict costs more than deciding them. `ClaimTable` keeps the arrays and answers as the dict
would (the same keys in the same order, the same tuples of plain ints), building a tuple only
when one is asked for; the summary's counts are taken from the arrays directly
(`reason_counts`, `changed_against`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

ClaimOutcome = tuple[str | None, int, int, int, int, int, int]


class ClaimTable(Mapping[str, ClaimOutcome]):
    """`ids[i]` -> (reasons[codes[i]], *amounts[i]); reasons[0] is None (accepted)."""

    def __init__(self, ids: Any, codes: np.ndarray, reasons: Sequence[str | None],
                 amounts: np.ndarray) -> None:
        """`ids`: a NumPy array of strings, or an Arrow string array (left in Arrow until a
        claim id is asked for)."""
        if not (len(ids) == len(codes) == len(amounts)):
            raise ValueError("claim ids, reason codes and amounts differ in length")
        self.ids, self.codes, self.reasons = ids, codes, tuple(reasons)
        self.amounts = amounts
        self._index: dict[str, int] | None = None
        self._list: list[str] | None = None

    def _ids(self) -> list[str]:
        if self._list is None:
            to_list = getattr(self.ids, "to_pylist", None)
            self._list = to_list() if to_list is not None else self.ids.tolist()
        return self._list

    def _row(self, i: int) -> ClaimOutcome:
        return (self.reasons[int(self.codes[i])], *self.amounts[i].tolist())

    def __getitem__(self, claim_id: str) -> ClaimOutcome:
        if self._index is None:
            self._index = {c: i for i, c in enumerate(self._ids())}
        return self._row(self._index[claim_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())

    def __len__(self) -> int:
        return len(self.ids)

    def items(self) -> Any:
        reasons = self.reasons
        return list(zip(self._ids(), (
            (reasons[c], *a) for c, a in zip(self.codes.tolist(), self.amounts.tolist(),
                                            strict=True)), strict=True))

    def values(self) -> Any:
        return [v for _, v in self.items()]

    def reason_counts(self) -> Counter:
        """How many claims each reason (not None) names."""
        counts = np.bincount(self.codes.astype(np.int64), minlength=len(self.reasons))
        return Counter({r: int(k) for r, k in zip(self.reasons, counts.tolist(), strict=True)
                        if r is not None and k})

    def changed_against(self, other: Mapping[str, ClaimOutcome]) -> int | None:
        """How many claims differ from `other`'s, when `other` is a table of the same claims in
        the same order (None otherwise: compare claim by claim)."""
        if not isinstance(other, ClaimTable) or len(other) != len(self):
            return None
        if other.ids is not self.ids and other._ids() != self._ids():
            return None
        names = {r: i for i, r in enumerate(dict.fromkeys(self.reasons + other.reasons))}
        mine = np.array([names[r] for r in self.reasons])[self.codes]
        theirs = np.array([names[r] for r in other.reasons])[other.codes]
        differ = (mine != theirs) | (self.amounts != other.amounts).any(axis=1)
        return int(differ.sum())


class PersonYearTable(Mapping[tuple[str, int], Any]):
    """Person-years kept as columns: (person, year) -> `PersonYearMoney`, built only when one
    is asked for; the summary's sums and counts come from the columns (`total`, `covered`).

    `columns`: person, year, region (lists), due, subsidy, paid, refunded (int64 fen),
    covered, terminated (booleans), rule (list), as the columnar store holds them.
    """

    MONEY = ("due", "subsidy", "paid", "refunded")

    def __init__(self, columns: Mapping[str, Any], money: Any) -> None:
        self.c = {k: (np.asarray(v) if k in (*self.MONEY, "covered", "terminated") else v)
                  for k, v in columns.items()}
        self._money = money  # the PersonYearMoney class (kept out of this module's imports)
        self._rows: dict[tuple[str, int], Any] | None = None

    def _dict(self) -> dict[tuple[str, int], Any]:
        if self._rows is None:
            c = self.c
            self._rows = {
                (p, y): self._money(r, due=d, subsidy=s, paid=pa, refunded=rf, covered=cv,
                                    terminated=t)
                for p, y, r, d, s, pa, rf, cv, t in zip(
                    c["person"], c["year"], c["region"], c["due"].tolist(),
                    c["subsidy"].tolist(), c["paid"].tolist(), c["refunded"].tolist(),
                    c["covered"].tolist(), c["terminated"].tolist(), strict=True)}
        return self._rows

    def __getitem__(self, key: tuple[str, int]) -> Any:
        return self._dict()[key]

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self.c["person"])

    def total(self, attr: str, every: bool = False) -> int:
        """The sum of one money column over the person-years not terminated (`every`: over
        all of them, the terminated included)."""
        column = self.c[attr]
        return int((column if every else column[~self.c["terminated"]]).sum())

    def covered(self) -> int:
        return int(self.c["covered"].sum())

    def regions_years(self) -> set[tuple[str, int]]:
        return set(zip(self.c["region"], self.c["year"], strict=True))

    def rules(self) -> set[str]:
        return set(self.c["rule"])
