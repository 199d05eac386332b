"""Per-claim outcomes kept as columns: a read-only mapping claim id -> `ClaimOutcome`.

The fast engine decides a million claims as arrays; turning them into a million tuples in a
dict costs more than deciding them. `ClaimTable` keeps the arrays and answers as the dict
would (the same keys in the same order, the same tuples of plain ints), building a tuple only
when one is asked for; the summary's counts are taken from the arrays directly
(`reason_counts`, `changed_against`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
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
            self._list = _listed(self.ids)
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


class ClaimCounts:
    """A side's claim outcomes counted where they were decided (a deployment's region, ADR
    121): how many claims, how many each reason names, and how many differ from the
    baseline's (None on the baseline itself). It answers the summary's questions as a
    `ClaimTable` does (`len`, `reason_counts`, `changed_against`) without the claims."""

    def __init__(self, claims: int, reasons: Mapping[str, int], changed: int | None) -> None:
        self.claims, self.reasons, self.changed = claims, Counter(reasons), changed

    @classmethod
    def of(cls, claims: Mapping[str, ClaimOutcome],
           baseline: Mapping[str, ClaimOutcome] | None = None) -> ClaimCounts:
        """Count `claims` (a `ClaimTable` or any mapping), the changed ones against
        `baseline` when given."""
        if isinstance(claims, ClaimCounts):
            return claims
        if isinstance(claims, ClaimTable):
            reasons = claims.reason_counts()
            changed = claims.changed_against(baseline) if baseline is not None else None
        else:
            reasons = Counter(o[0] for o in claims.values() if o[0] is not None)
            changed = None
        if baseline is not None and changed is None:
            changed = sum(1 for cid, o in claims.items() if baseline.get(cid) != o)
        return cls(len(claims), reasons, changed)

    def __len__(self) -> int:
        return self.claims

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClaimCounts) and (self.claims, self.reasons, self.changed) == (
            other.claims, other.reasons, other.changed)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"ClaimCounts(claims={self.claims}, reasons={dict(self.reasons)}, "
                f"changed={self.changed})")

    def reason_counts(self) -> Counter:
        return +self.reasons  # reasons that name no claim dropped, as a table's

    def changed_against(self, other: Any) -> int | None:
        """How many claims differ from the baseline's, as counted in the region (`other`,
        the baseline's counts, is not consulted: its claims are not here)."""
        return self.changed


def join_counts(parts: Sequence[ClaimCounts]) -> ClaimCounts:
    """Regions' counts as one (no claim is in two regions: ADR 113)."""
    reasons: Counter = Counter()
    for part in parts:
        reasons.update(part.reasons)
    changed = None if any(p.changed is None for p in parts) else sum(
        p.changed or 0 for p in parts)
    return ClaimCounts(sum(p.claims for p in parts), reasons, changed)


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

    def by_region(self) -> dict[str, tuple[int, int]]:
        """Each region's household count and reimbursed sum (fen), from the columns."""
        if not len(self.rows):
            return {}
        pool = self.pool[self.rows]
        count = np.bincount(pool, minlength=len(self.pools))
        used = np.zeros(len(self.pools), np.int64)  # exact int64 sums, no float weights
        np.add.at(used, pool, self.reimbursed[self.rows].astype(np.int64))
        out: dict[str, tuple[int, int]] = {}
        for (region, _year), k, r in zip(self.pools, count.tolist(), used.tolist(),
                                         strict=True):
            if k:
                had = out.get(region, (0, 0))
                out[region] = (had[0] + k, had[1] + r)
        return out

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
        self._pools: list[tuple[str, int, int, int, int]] | None = None

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

    def by_pool(self) -> list[tuple[str, int, int, int, int]]:
        """Each (region, year)'s contributions (paid less refunded, person-years not
        terminated), subsidy cost and count of the covered ones, as (region, year,
        contributions, subsidy, covered): exact int64 sums grouped by Arrow, once per table
        (a claims-only what-if's sides share one). A table joined from tables that had
        summed theirs holds their lists one after another (a (region, year) in two of them
        named twice: the flows add them)."""
        if self._pools is None:
            self._pools = self._grouped() if len(self) else []
        return self._pools

    def _grouped(self) -> list[tuple[str, int, int, int, int]]:
        c = self.c
        live, covered = ~c["terminated"], c["covered"]
        grouped = pa.table({
            "region": _arrow(c["region"], pa.string()), "year": _arrow(c["year"], pa.int64()),
            "contributions": (c["paid"].astype(np.int64) - c["refunded"]) * live,
            "subsidy": c["subsidy"].astype(np.int64) * covered,
            "covered": covered.astype(np.int64),
        }).group_by(["region", "year"]).aggregate(
            [("contributions", "sum"), ("subsidy", "sum"), ("covered", "sum")])
        return list(zip(*(grouped[name].to_pylist() for name in (
            "region", "year", "contributions_sum", "subsidy_sum", "covered_sum")), strict=True))

    def rules(self) -> set[str]:
        rule = self.c["rule"]
        return set(rule if isinstance(rule, list) else _listed(pc.unique(rule)))


def _arrow(values: Any, kind: pa.DataType) -> Any:
    """A column as Arrow (a list or NumPy array converted)."""
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return values
    return pa.array(_listed(values), kind)


def _listed(values: Any) -> list[Any]:
    """Arrow values, a NumPy array (or any sequence) as a list of plain values."""
    to_list = getattr(values, "to_pylist", None) or getattr(values, "tolist", None)
    return to_list() if to_list is not None else list(values)


# --- several regions' tables as one (a deployment's what-if, ADR 113) -------------------------


def _joined_values(parts: Sequence[Any]) -> Any:
    """Columns of strings or numbers joined end to end: Arrow when every part is Arrow of one
    type, NumPy when every part is NumPy, else a list."""
    if all(hasattr(p, "to_pylist") for p in parts) and len({p.type for p in parts}) == 1:
        return pa.chunked_array([c for p in parts
                                 for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])],
                                type=parts[0].type)
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    return [v for p in parts for v in _listed(p)]


def _distinct(values: Any) -> int:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return int(pc.count_distinct(values).as_py())
    return len(set(values.tolist() if isinstance(values, np.ndarray) else values))


class DistinctCounts:
    """How many distinct keys tables joined end to end hold, counted once per set of columns:
    a what-if's baseline and reform sides share their key columns (the same claims and
    persons, the same objects), so merging both sides of several regions counts them once
    (ADR 119). Remembered by the identity of the columns, which it keeps alive meanwhile."""

    def __init__(self) -> None:
        self._counted: dict[tuple[int, ...], tuple[list[Any], Any]] = {}
        self._joined: dict[tuple[int, ...], tuple[list[Any], Any]] = {}

    def joined(self, columns: Sequence[Any]) -> Any:
        """The columns joined end to end (`_joined_values`), one object for the same column
        objects: both sides of a what-if then hold one claim id column, and the summary
        compares their claims without listing the ids (ADR 120)."""
        return _remembered(self._joined, columns, lambda: _joined_values(columns))

    def count(self, columns: Sequence[Any], count: Callable[[], int]) -> int:
        """`count()` for these columns, or what it gave for the same column objects."""
        return int(_remembered(self._counted, columns, count))


def _remembered(memo: dict[tuple[int, ...], tuple[list[Any], Any]], columns: Sequence[Any],
                make: Callable[[], Any]) -> Any:
    """`make()`, or what it gave before for the same column objects (kept in `memo`, which
    keeps them alive so that their ids stay theirs)."""
    key = tuple(id(c) for c in columns)
    seen = memo.get(key)
    if seen is not None and all(a is b for a, b in zip(seen[0], columns, strict=True)):
        return seen[1]
    answer = make()
    memo[key] = (list(columns), answer)
    return answer


def _recoded(codes: np.ndarray, names: Sequence[Any], index: dict[Any, int]) -> np.ndarray:
    """Codes into `names` as codes into the joined names (`index`: name -> joined code)."""
    if not len(codes):
        return codes.astype(np.int64)
    return np.array([index[n] for n in names], np.int64)[codes]


def join_claims(tables: Sequence[ClaimTable], counts: DistinctCounts | None = None,
                distinct: bool = False) -> ClaimTable | None:
    """Claim tables of distinct claims as one, in their order (as `dict.update` would order
    them); None when a claim id is in two of them (the caller then merges as dicts), unless
    the caller knows them `distinct` (a deployment's regions, ADR 125: not counted)."""
    counts = counts or DistinctCounts()
    parts = [t.ids for t in tables]
    ids = counts.joined(parts)
    if not distinct and counts.count(parts, lambda: _distinct(ids)) != sum(
            len(t) for t in tables):
        return None
    reasons = list(dict.fromkeys([None, *(r for t in tables for r in t.reasons)]))
    index = {r: k for k, r in enumerate(reasons)}
    codes = np.concatenate([_recoded(t.codes, t.reasons, index) for t in tables])
    dtype = np.int8 if len(reasons) < 128 else np.int64
    amounts = [np.concatenate([t.amounts[k] for t in tables]) for k in range(6)]
    return ClaimTable(ids, codes.astype(dtype), reasons, amounts)


def join_households(tables: Sequence[HouseholdTable], counts: DistinctCounts | None = None,
                    distinct: bool = False) -> HouseholdTable | None:
    """Household tables of distinct households as one; None when a household is in two,
    unless the caller knows them `distinct` (ADR 125: not counted). Every household row
    distinct (counted once for both sides of a what-if, which share their id columns: ADR
    124) answers for the rows held; else those are counted."""
    counts = counts or DistinctCounts()
    rows, offset = [], 0
    for t in tables:
        rows.append(t.rows + offset)
        offset += len(t.pool)
    parts = [t.ids for t in tables]
    ids = counts.joined(parts)
    kept = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if not distinct and counts.count(parts, lambda: _distinct(ids)) != offset:
        held = ids.take(pa.array(kept)) if isinstance(ids, pa.ChunkedArray) else (
            ids[kept] if isinstance(ids, np.ndarray) else [ids[k] for k in kept.tolist()])
        if _distinct(held) != len(kept):
            return None
    pools = list(dict.fromkeys(p for t in tables for p in t.pools))
    index = {p: k for k, p in enumerate(pools)}
    pool = np.concatenate([_recoded(t.pool, t.pools, index) for t in tables])
    columns = [np.concatenate([getattr(t, name) for t in tables])
               for name in ("cap", "reimbursed", "members", "covered")]
    return HouseholdTable(ids, counts.joined([t.heads for t in tables]), pool, pools,
                          *columns, kept, tables[0]._totals)


def join_person_years(tables: Sequence[PersonYearTable],
                      counts: DistinctCounts | None = None, distinct: bool = False
                      ) -> PersonYearTable | None:
    """Person-year tables of distinct person-years as one; None when one is in two, unless
    the caller knows them `distinct` (ADR 125: not counted)."""
    names = list(tables[0].c)
    if any(list(t.c) != names for t in tables):
        return None
    columns = {name: _joined_values([t.c[name] for t in tables]) for name in names}
    persons, years = columns["person"], columns["year"]
    keys = [t.c[name] for name in ("person", "year") for t in tables]
    if not distinct and (counts or DistinctCounts()).count(
            keys, lambda: _pairs_distinct(persons, years)) != sum(len(t) for t in tables):
        return None
    joined = PersonYearTable(columns, tables[0]._money)
    if all(t._pools is not None for t in tables):  # each region summed its own (ADR 126)
        joined._pools = [p for t in tables for p in t._pools or ()]
    return joined


def _pairs_distinct(persons: Any, years: Any) -> int:
    """How many distinct (person, year) pairs: grouped by Arrow when the persons are Arrow
    (the years, kept as a list of ints, converted for it), else as a set of tuples."""
    if isinstance(persons, pa.ChunkedArray | pa.Array):
        pairs = pa.table({"p": persons, "y": _arrow(years, pa.int64())})
        return pairs.group_by(["p", "y"]).aggregate([]).num_rows
    return len(set(zip(_listed(persons), _listed(years), strict=True)))
