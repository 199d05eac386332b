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
from uuid import UUID

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ClaimOutcome = tuple[str | None, int, int, int, int, int, int]


class ClaimTable(Mapping[str, ClaimOutcome]):
    """`ids[i]` -> (reasons[codes[i]], *(a[i] for a in amounts)); reasons[0] is None
    (accepted)."""

    def __init__(self, ids: Any, codes: np.ndarray, reasons: Sequence[str | None],
                 amounts: Sequence[np.ndarray]) -> None:
        """`ids`: a NumPy array of strings, or an Arrow string array (left in Arrow until a
        claim id is asked for); `amounts`: the six amount columns of `ClaimOutcome`."""
        if len(amounts) != 6 or any(len(a) != len(codes) for a in amounts) or (
                len(ids) != len(codes)):
            raise ValueError("claim ids, reason codes and amounts differ in length")
        self.ids, self.codes, self.reasons = ids, codes, tuple(reasons)
        self.amounts = tuple(amounts)
        self._index: dict[str, int] | None = None
        self._list: list[str] | None = None

    def _ids(self) -> list[str]:
        if self._list is None:
            to_list = getattr(self.ids, "to_pylist", None)
            self._list = to_list() if to_list is not None else self.ids.tolist()
        return self._list

    def _row(self, i: int) -> ClaimOutcome:
        return (self.reasons[int(self.codes[i])], *(int(a[i]) for a in self.amounts))

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
            (reasons[c], *a) for c, a in zip(self.codes.tolist(),
                                            zip(*(a.tolist() for a in self.amounts),
                                                strict=True),
                                            strict=True)), strict=True))

    def values(self) -> Any:
        return [v for _, v in self.items()]

    def reason_counts(self) -> Counter:
        """How many claims each reason (not None) names."""
        counts = np.bincount(self.codes, minlength=len(self.reasons))
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
        differ = mine != theirs
        for a, b in zip(self.amounts, other.amounts, strict=True):
            differ |= a != b
        return int(np.count_nonzero(differ))


class HouseholdTable(Mapping[UUID, Any]):
    """Households' pools kept as columns: household id -> `HouseholdTotals`, built only when
    one is asked for; the summary's sum and count come from the columns (`reimbursed_total`,
    `at_cap_count`).

    `ids`, `heads`: strings (lists or Arrow string arrays) by household; `pool`: each
    household's (region, year) as an index into `pools`; `cap`, `reimbursed`, `members`,
    `covered` (int64 arrays) by household; `rows`: the households held (indexes into those
    columns), in order.
    """

    def __init__(self, ids: Any, heads: Any, pool: np.ndarray,
                 pools: Sequence[tuple[str, int]], cap: np.ndarray, reimbursed: np.ndarray,
                 members: np.ndarray, covered: np.ndarray, rows: np.ndarray,
                 totals: Any) -> None:
        self.ids, self.heads, self.pool, self.pools = ids, heads, pool, pools
        self.cap, self.reimbursed, self.members, self.covered = cap, reimbursed, members, covered
        self.rows = rows
        self._totals = totals  # the HouseholdTotals class (kept out of this module's imports)
        self._rows: dict[UUID, Any] | None = None

    def _dict(self) -> dict[UUID, Any]:
        if self._rows is None:
            ids, heads = _listed(self.ids), _listed(self.heads)
            pools, totals = self.pools, self._totals
            self._rows = {
                UUID(ids[k]): totals(heads[k], pools[p][1], pools[p][0], cap=c, reimbursed=r,
                                     members=m, covered=v)
                for k, p, c, r, m, v in zip(
                    self.rows.tolist(), self.pool[self.rows].tolist(),
                    self.cap[self.rows].tolist(),
                    self.reimbursed[self.rows].tolist(), self.members[self.rows].tolist(),
                    self.covered[self.rows].tolist(), strict=True)}
        return self._rows

    def __getitem__(self, household_id: UUID) -> Any:
        return self._dict()[household_id]

    def __iter__(self) -> Iterator[UUID]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self.rows)

    def items(self) -> Any:
        return self._dict().items()

    def values(self) -> Any:
        return self._dict().values()

    def reimbursed_total(self) -> int:
        return int(self.reimbursed[self.rows].sum())

    def at_cap_count(self) -> int:
        """How many households are at their cap: `HouseholdTotals.at_cap`, column-wise
        (proved equal by the columnar property test: the summaries of both paths agree)."""
        cap, used = self.cap[self.rows], self.reimbursed[self.rows]
        return int(np.count_nonzero((cap > 0) & (used >= cap)))


class PersonYearTable(Mapping[tuple[str, int], Any]):
    """Person-years kept as columns: (person, year) -> `PersonYearMoney`, built only when one
    is asked for; the summary's sums and counts come from the columns (`total`, `covered`).

    `columns`: person, year, region (lists, or Arrow arrays turned into lists only when asked
    for: `listed`), due, subsidy, paid, refunded (int64 fen), covered, terminated (booleans),
    rule (list or Arrow), as the columnar store holds them.
    """

    MONEY = ("due", "subsidy", "paid", "refunded")

    def __init__(self, columns: Mapping[str, Any], money: Any) -> None:
        self.c = {k: (np.asarray(v) if k in (*self.MONEY, "covered", "terminated") else v)
                  for k, v in columns.items()}
        self._money = money  # the PersonYearMoney class (kept out of this module's imports)
        self._rows: dict[tuple[str, int], Any] | None = None

    def listed(self, name: str) -> list[Any]:
        """A column of person, year, region or rule as a list."""
        column = self.c[name]
        if not isinstance(column, list):
            column = self.c[name] = _listed(column)
        return column

    def _dict(self) -> dict[tuple[str, int], Any]:
        if self._rows is None:
            c = self.c
            self._rows = {
                (p, y): self._money(r, due=d, subsidy=s, paid=pa, refunded=rf, covered=cv,
                                    terminated=t)
                for p, y, r, d, s, pa, rf, cv, t in zip(
                    self.listed("person"), self.listed("year"), self.listed("region"),
                    c["due"].tolist(), c["subsidy"].tolist(), c["paid"].tolist(),
                    c["refunded"].tolist(), c["covered"].tolist(), c["terminated"].tolist(),
                    strict=True)}
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
        region, year = self.c["region"], self.c["year"]
        if isinstance(region, list) or isinstance(year, list):
            return set(zip(self.listed("region"), self.listed("year"), strict=True))
        pairs = pa.table({"region": region, "year": year}).group_by(
            ["region", "year"]).aggregate([])
        return set(zip(_listed(pairs["region"]), _listed(pairs["year"]), strict=True))

    def rules(self) -> set[str]:
        rule = self.c["rule"]
        return set(rule if isinstance(rule, list) else _listed(pc.unique(rule)))


def _listed(values: Any) -> list[Any]:
    """Arrow values (or any sequence) as a list."""
    to_list = getattr(values, "to_pylist", None)
    return to_list() if to_list is not None else list(values)
