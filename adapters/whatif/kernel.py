"""Column-wise outpatient claims kernel: the fast what-if engine's core.

Decides a whole table of claims at once, in settlement order, and gives for every row exactly
what `domain.rules.outpatient.settle` gives when the ledger settles the claims one by one:
the same rejection reason, eligible expense, reimbursable and reimbursed amounts, and the pool
cap, use and remainder, all in int64 fen.

The rows' pools are settled by `adapters.whatif.pools`: a grouped cumulative minimum for all
pools at once, segment by segment between reversals, and a plain loop for the few households
that form cannot settle exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import attrs
import numpy as np
from attrs import frozen
from numpy.typing import ArrayLike

from adapters.whatif.pools import settle_pools
from domain.money import Money
from domain.policy import CAUSES, Policy

OK = 0
REASONS: tuple[str, ...] = (
    "ok",
    "employee_insured",
    "not_covered_on_date",
    "excluded_cause",
    "facility_not_eligible",
    "out_of_county",
)
"""`ClaimResults.reason` indexes this tuple: 0 is "ok", then the contract codes in check order."""

_I64_MAX = int(np.iinfo(np.int64).max)
_SAFE = 2**62  # headroom kept below the int64 range for sums and offsets


def _column(dtype: type[np.generic]) -> Callable[[Any], np.ndarray]:
    """A converter to a 1-D array of `dtype` that refuses values the dtype cannot hold."""
    target = np.dtype(dtype)

    def convert(values: Any) -> np.ndarray:
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ValueError(f"a claim column must be one-dimensional, got shape {arr.shape}")
        if arr.dtype == target:
            return arr
        if arr.size == 0:
            return arr.astype(target)
        if target == np.bool_:
            if arr.dtype.kind not in "biu" or not np.isin(arr, (0, 1)).all():
                raise ValueError("a true/false column must hold booleans or 0/1")
            return arr.astype(np.bool_)
        if arr.dtype.kind not in "biu":
            raise ValueError(f"a claim column must hold integers, got {arr.dtype}")
        info = np.iinfo(target)
        low, high = int(arr.min()), int(arr.max())
        if low < info.min or high > info.max:
            raise ValueError(f"values {low}..{high} do not fit the column type {target}")
        return arr.astype(target)

    return convert


@frozen(eq=False)
class ClaimColumns:
    """One row per claim, in settlement order, as typed NumPy columns."""

    household: np.ndarray = attrs.field(converter=_column(np.int64))
    person: np.ndarray = attrs.field(converter=_column(np.int64))
    policy: np.ndarray = attrs.field(converter=_column(np.int32))
    visit_day: np.ndarray = attrs.field(converter=_column(np.int32))
    facility_level: np.ndarray = attrs.field(converter=_column(np.int8))
    facility_region: np.ndarray = attrs.field(converter=_column(np.int64))
    member_region: np.ndarray = attrs.field(converter=_column(np.int64))
    expense: np.ndarray = attrs.field(converter=_column(np.int64))
    cause: np.ndarray = attrs.field(converter=_column(np.int8))
    covered_from: np.ndarray = attrs.field(converter=_column(np.int32))
    covered_to: np.ndarray = attrs.field(converter=_column(np.int32))
    suspended: np.ndarray = attrs.field(converter=_column(np.bool_))
    counts_for_cap: np.ndarray = attrs.field(converter=_column(np.bool_))
    covered_on_visit: np.ndarray = attrs.field(converter=_column(np.int32))

    def __attrs_post_init__(self) -> None:
        n = len(self.household)
        for field in attrs.fields(ClaimColumns):
            if len(getattr(self, field.name)) != n:
                raise ValueError(f"column {field.name} has {len(getattr(self, field.name))} "
                                 f"rows, household has {n}")

    def __len__(self) -> int:
        return len(self.household)


@frozen(eq=False)
class ClaimResults:
    """The decision on every row: reason (index into REASONS) and the amounts in fen."""

    reason: np.ndarray
    eligible_expense: np.ndarray
    reimbursable: np.ndarray
    reimbursed: np.ndarray
    pool_cap: np.ndarray
    pool_used_before: np.ndarray
    pool_remaining_after: np.ndarray

    def __len__(self) -> int:
        return len(self.reason)

    def reason_codes(self) -> list[str]:
        """The reason of every row as its contract code ("ok" when accepted)."""
        return [REASONS[i] for i in self.reason.tolist()]


@frozen
class ClaimRow:
    """One claim as plain Python values, for building small tables in tests and tools."""

    household: int
    person: int
    visit: date
    expense: Money
    policy: int = 0
    facility_level: int = 1
    facility_region: str = "341225"
    member_region: str = "341225"
    cause: str = "ordinary"
    covered_from: date | None = None
    covered_to: date | None = None
    suspended: bool = False
    counts_for_cap: bool = True
    covered_on_visit: int = 1


def columns_from_rows(rows: Sequence[ClaimRow]) -> ClaimColumns:
    """Build `ClaimColumns` from a list of `ClaimRow`s (covered_from None becomes 0)."""
    return ClaimColumns(
        household=[r.household for r in rows],
        person=[r.person for r in rows],
        policy=np.array([r.policy for r in rows], dtype=np.int32),
        visit_day=np.array([r.visit.toordinal() for r in rows], dtype=np.int32),
        facility_level=np.array([r.facility_level for r in rows], dtype=np.int8),
        facility_region=np.array([int(r.facility_region) for r in rows], dtype=np.int64),
        member_region=np.array([int(r.member_region) for r in rows], dtype=np.int64),
        expense=np.array([r.expense.fen for r in rows], dtype=np.int64),
        cause=np.array([CAUSES.index(r.cause) for r in rows], dtype=np.int8),
        covered_from=np.array([r.covered_from.toordinal() if r.covered_from else 0
                               for r in rows], dtype=np.int32),
        covered_to=np.array([r.covered_to.toordinal() if r.covered_to else 0 for r in rows],
                            dtype=np.int32),
        suspended=np.array([r.suspended for r in rows], dtype=np.bool_),
        counts_for_cap=np.array([r.counts_for_cap for r in rows], dtype=np.bool_),
        covered_on_visit=np.array([r.covered_on_visit for r in rows], dtype=np.int32),
    )


def ratio_fraction(policy: Policy) -> tuple[int, int]:
    """The policy's outpatient ratio as an exact reduced fraction (numerator, denominator)."""
    num, den = policy.outpatient.ratio.as_integer_ratio()
    return num, den


def half_up_times(fen: int, num: int, den: int) -> int:
    """fen x num/den rounded half-up to the fen, for non-negative fen and num."""
    return (fen * num * 2 + den) // (2 * den)


@frozen(eq=False)
class _PolicyTable:
    """Each policy's outpatient terms as arrays indexed by policy number."""

    num: np.ndarray
    den: np.ndarray
    exact_fraction: list[tuple[int, int]]
    big: np.ndarray  # the fraction does not fit int64 arithmetic: such rows use Python ints
    limit: np.ndarray  # the largest eligible fen whose half-up product stays in int64
    cap_each: np.ndarray
    by_person: np.ndarray
    max_level: np.ndarray
    in_county_only: np.ndarray
    excluded: np.ndarray  # [policy, cause]
    deductible: np.ndarray


def _policy_table(policies: Sequence[Policy]) -> _PolicyTable:
    count = len(policies)
    num = np.zeros(count, np.int64)
    den = np.ones(count, np.int64)
    big = np.zeros(count, np.bool_)
    limit = np.zeros(count, np.int64)
    fractions = []
    for i, p in enumerate(policies):
        n, d = ratio_fraction(p)
        fractions.append((n, d))
        if 2 * d + 2 * n > _SAFE:
            big[i] = True
            continue
        num[i], den[i] = n, d
        limit[i] = _I64_MAX if n == 0 else min(_I64_MAX, (_I64_MAX - d) // (2 * n))
    excluded = np.zeros((count, len(CAUSES)), np.bool_)
    for i, p in enumerate(policies):
        for cause in p.outpatient.excluded_causes:
            excluded[i, CAUSES.index(cause)] = True
    return _PolicyTable(
        num=num, den=den, exact_fraction=fractions, big=big, limit=limit,
        cap_each=np.array([p.outpatient.per_person_cap.fen for p in policies], np.int64),
        by_person=np.array([p.outpatient.pooling == "person" for p in policies], np.bool_),
        max_level=np.array([p.outpatient.max_facility_level for p in policies], np.int64),
        in_county_only=np.array([p.outpatient.in_county_only for p in policies], np.bool_),
        excluded=excluded,
        deductible=np.array([p.outpatient.deductible.fen for p in policies], np.int64),
    )


def settle_columns(columns: ClaimColumns, policies: Sequence[Policy],
                   reversal_claim: ArrayLike | None = None,
                   reversal_after: ArrayLike | None = None) -> ClaimResults:
    """Settle every claim row as the ledger would, in order, with the given reversals."""
    n = len(columns)
    table = _policy_table(policies)
    rev_claim, rev_after = _reversals(reversal_claim, reversal_after, n)
    _check_inputs(columns, len(policies))

    p = columns.policy
    reason = _reasons(columns, table)
    ok = reason == OK

    eligible = np.maximum(columns.expense - table.deductible[p], 0)
    eligible[~ok] = 0
    reimbursable = _reimbursable(eligible, p, table)

    by_person = table.by_person[p]
    cap_each = table.cap_each[p]
    if n and int(cap_each.max()) * max(1, int(columns.covered_on_visit.max())) >= _SAFE:
        raise OverflowError("per-person cap x members counting for the cap leaves the int64 "
                            "range; the kernel cannot settle these columns")
    # domain.rules.pool.pool_cap, column-wise; proved equal by the kernel's property tests
    # (tests/properties/test_fastclaims_properties.py) against the rule applied row by row.
    cap = np.where(by_person, np.where(columns.counts_for_cap, cap_each, 0),
                   cap_each * columns.covered_on_visit.astype(np.int64))
    cap[~ok] = 0

    reimbursed = np.zeros(n, np.int64)
    used_before = np.zeros(n, np.int64)
    remaining_after = np.zeros(n, np.int64)
    settle_pools(np.flatnonzero(ok), columns.household, columns.person, by_person,
                 reimbursable, cap, ok, rev_claim, rev_after,
                 reimbursed, used_before, remaining_after)
    return ClaimResults(reason=reason, eligible_expense=eligible, reimbursable=reimbursable,
                        reimbursed=reimbursed, pool_cap=cap, pool_used_before=used_before,
                        pool_remaining_after=remaining_after)


def _reversals(claim: ArrayLike | None, after: ArrayLike | None, n: int
               ) -> tuple[np.ndarray, np.ndarray]:
    if claim is None and after is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if claim is None or after is None:
        raise ValueError("reversal_claim and reversal_after come together")
    claim = _column(np.int64)(claim)
    after = _column(np.int64)(after)
    if len(claim) != len(after):
        raise ValueError("reversal_claim and reversal_after differ in length")
    if claim.size:
        if int(claim.min()) < 0 or int(after.max()) >= n:
            raise ValueError(f"a reversal names a row outside 0..{n - 1}")
        if (after < claim).any():
            raise ValueError("a reversal comes before the claim it reverses was settled")
    return claim, after


def _check_inputs(columns: ClaimColumns, policy_count: int) -> None:
    if not len(columns):
        return
    if int(columns.policy.min()) < 0 or int(columns.policy.max()) >= policy_count:
        raise ValueError(f"a policy index lies outside 0..{policy_count - 1}")
    if int(columns.cause.min()) < 0 or int(columns.cause.max()) >= len(CAUSES):
        raise ValueError(f"a cause index lies outside 0..{len(CAUSES) - 1}")
    if int(columns.expense.min()) < 0:
        raise ValueError("an expense is negative")
    if int(columns.household.min()) < 0 or int(columns.person.min()) < 0:
        raise ValueError("household and person indices must not be negative")
    if int(columns.covered_on_visit.min()) < 0:
        raise ValueError("covered_on_visit must not be negative")


def _reasons(columns: ClaimColumns, table: _PolicyTable) -> np.ndarray:
    """The first failed check of `check_claim`, per row (0 when every check passes)."""
    p = columns.policy
    visit = columns.visit_day
    reason = np.zeros(len(columns), np.int8)
    # later checks first, so an earlier failing check overwrites them
    reason[table.in_county_only[p] & (columns.facility_region != columns.member_region)] = 5
    reason[columns.facility_level > table.max_level[p]] = 4
    reason[table.excluded[p, columns.cause]] = 3
    not_covered = ((columns.covered_from == 0) | (visit < columns.covered_from)
                   | ((columns.covered_to != 0) & (visit > columns.covered_to)))
    reason[not_covered] = 2
    reason[columns.suspended] = 1
    return reason


def _reimbursable(eligible: np.ndarray, p: np.ndarray, table: _PolicyTable) -> np.ndarray:
    """eligible x ratio, half-up to the fen; rows past the int64 range use Python ints."""
    num = table.num[p]
    den = table.den[p]
    slow = table.big[p] | (eligible > table.limit[p])
    out = (eligible * num * 2 + den) // (2 * den)
    for i in np.flatnonzero(slow).tolist():
        n, d = table.exact_fraction[int(p[i])]
        out[i] = half_up_times(int(eligible[i]), n, d)
    return out


def _day(ordinal: int) -> date | None:
    return date.fromordinal(ordinal) if ordinal else None
