"""The fast what-if engine reading the columnar store (ADR 50) instead of the SQL views.

For a patch of the claims rules only (`fast.changes_coverage` false): the scope's claims,
households and members come out of the columnar store as arrays
(`adapters.stores.columnar.read`), the claimant's member row and the household's member
slots are joined there, and the kernel's input is assembled by the same code as from the
views (`fast.assemble`); the per-claim outcomes and the households' pools stay columns
(`outcomes.ClaimTable`, `outcomes.HouseholdTable`). The baseline's pools are folded from the
store's columns as `household_pool` folds them from the events (ADR 102): members not gone,
members counting for the cap, the cap (`pool_cap` of the per-person cap the household was
formed under) and what its unreversed claims reimbursed. The outcomes, totals and households
are the ones `fast.fast_whatif` gives from the views: the integration and property tests
compare both paths claim by claim and household by household.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import numpy as np
from attrs import frozen
from sqlalchemy.engine import Engine

from adapters.stores.columnar.read import ScopeColumns
from adapters.whatif.exact import HouseholdTotals, PersonYearMoney, Scope, Side
from adapters.whatif.fast import (
    NEVER,
    NOT_ENROLLED,
    KernelInput,
    MemberArrays,
    assemble,
    pools_and_person_years,
)
from adapters.whatif.kernel import REASONS
from adapters.whatif.memory import reuse_freed_memory
from adapters.whatif.outcomes import ClaimTable, HouseholdTable, PersonYearTable
from domain.money import Money
from domain.policy import Policy
from domain.policy_book import PolicyBook
from domain.rules.pool import pool_cap
from projections.personal import PLAIN, PersonalData
from projections.queries import person_keys

#: The reform's reason codes: the kernel's (0: accepted), then not_enrolled.
REFORM_REASONS: tuple[str | None, ...] = (None, *REASONS[1:], NOT_ENROLLED)
_NOT_ENROLLED = len(REFORM_REASONS) - 1


@frozen(eq=False)
class _Facts:
    position: np.ndarray
    visit_day: np.ndarray
    facility_level: np.ndarray
    facility_region: np.ndarray
    expense: np.ndarray
    cause: np.ndarray
    reversal_position: np.ndarray


def baseline_from_columns(engine: Engine, scope: Scope, sc: ScopeColumns,
                          personal: PersonalData = PLAIN) -> Side:
    """What the ledger recorded for the scope, from the columnar store: claims, households'
    pools and person-years (the views are read only for heads held by keyed pseudonyms, and
    for the pools of a store whose households were formed before `Household.Formed` named
    their per-person cap)."""
    reuse_freed_memory()
    side = Side()
    side.claims = ClaimTable(sc.claims["claim_id"], np.zeros(len(sc), np.int8), (None,),
                             sc.recorded())
    side.policies.update(f"{pid}@{version}" for pid, version in sc.recorded_policies)
    cap_each = sc.households["cap_each"]
    if isinstance(cap_each, np.ndarray):
        counts = member_counts(sc)
        c = sc.claims
        unreversed = c["reversal_position"] == NEVER
        # a reversal gives back the claim's reimbursement (`Household.ClaimReversed.amount`
        # is the claim's `reimbursed`): the pool's use is its unreversed claims' sum
        used = _sums(sc.household_count, c["household"], c["reimbursed"], unreversed)
        side.households = HouseholdTable(
            sc.households["household_id"], _heads(engine, sc, personal),
            sc.households["pool"], sc.pools, _caps(cap_each, counts.covered), used,
            counts.members, counts.covered, np.arange(sc.household_count), HouseholdTotals)
    else:
        pools_and_person_years(engine, scope, side, personal, person_years=False)
    side.person_years = PersonYearTable(sc.person_years, PersonYearMoney)
    side.policies.update(side.person_years.rules())
    return side


def _heads(engine: Engine, sc: ScopeColumns, personal: PersonalData) -> Any:
    """The heads as person keys: the store's pseudonyms when they are the keys, else
    decoded through the views' registry, as `pools_and_person_years` decodes them."""
    heads = sc.households["head"]
    if personal.plain:
        return heads
    names = heads.to_pylist()
    with engine.connect() as conn:
        keys = person_keys(conn, personal, names)
    return [keys[h] for h in names]


@frozen(eq=False)
class MemberCounts:
    """By household number: member rows, members not gone, members counting for the cap."""

    rows: np.ndarray
    members: np.ndarray
    covered: np.ndarray


def member_counts(sc: ScopeColumns) -> MemberCounts:
    """Each household's members, as `household_pool` counts them: those not gone, and those
    who count for the cap (`domain.rules.pool.counts_for_cap` with no day: covered, not
    suspended, not gone), column-wise; proved equal by the columnar property test (the pools
    from the store and from the views agree)."""
    m = sc.members
    hno = m["hno"]
    size = sc.household_count
    here = m["left_position"] == NEVER
    counting = (m["covered_position"] < NEVER) & (m["suspended_position"] == NEVER) & here
    return MemberCounts(np.bincount(hno, minlength=size), np.bincount(hno[here], minlength=size),
                        np.bincount(hno[counting], minlength=size))


def _caps(cap_each: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Each household's cap: `pool_cap` of its per-person cap (fen) and the members who count,
    computed once per distinct pair."""
    if not cap_each.size:
        return np.zeros(0, np.int64)
    each, counted = cap_each.astype(np.int64), covered.astype(np.int64)
    width = int(counted.max()) + 1
    if int(each.min()) >= 0 and int(each.max()) < 2 ** 62 // width:
        keys, index = np.unique(each * width + counted, return_inverse=True)
        pairs = zip(*divmod(keys, width), strict=True)
    else:
        found, index = np.unique(np.stack((each, counted), axis=1), axis=0,
                                 return_inverse=True)
        pairs = zip(found[:, 0], found[:, 1], strict=True)
    caps = np.array([pool_cap(Money(int(c)), int(n)).fen for c, n in pairs], np.int64)
    return caps[index.reshape(-1)]


def _sums(size: int, group: np.ndarray, amount: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Exact int64 sums of `amount` by `group` over the rows `where` (bincount would weigh in
    floats)."""
    out = np.zeros(size, np.int64)
    np.add.at(out, group[where], amount[where])
    return out


def kernel_input_of(sc: ScopeColumns, reform: PolicyBook) -> KernelInput:
    """The kernel's input for the scope's claims under the reform."""
    c, m = sc.claims, sc.members
    policies: list[Policy] = []
    pool_policy = np.full(max(1, len(sc.pools)), -1, np.int32)
    for k, pool in enumerate(sc.pools):
        found = reform.find(*pool)
        if found is not None:
            pool_policy[k] = len(policies)
            policies.append(found)
    pidx = pool_policy[c["pool"]]
    missing_policy = pidx < 0
    pidx[missing_policy] = 0

    size = len(m["hno"])

    def column(name: str, none: int, dtype: Any) -> np.ndarray:
        out = np.empty(size + 1, dtype)
        out[:size] = m[name]
        out[size] = none
        return out

    t = MemberArrays(
        column("region", 0, np.int64), column("covered_from", 0, np.int32),
        column("covered_to", 0, np.int32), column("covered_position", NEVER, np.int64),
        column("suspended_position", NEVER, np.int64), column("left_position", NEVER, np.int64),
        column("joined_position", NEVER, np.int64))
    claimant = np.asarray(c["claimant"], np.int64)
    if claimant.size and int(claimant.min()) < 0:  # -1 (no member row) becomes `size`
        claimant = np.where(claimant < 0, size, claimant)

    # every member slot of each household: (households x widest household); members come
    # ordered by household number
    hno = m["hno"]
    counts = np.bincount(hno, minlength=sc.household_count)
    width = max(1, int(counts.max()) if counts.size else 1)
    slot = np.full((sc.household_count, width), size, np.int64)
    starts = np.cumsum(counts) - counts
    slot[hno, np.arange(size) - starts[hno]] = np.arange(size)

    facts = _Facts(*(np.asarray(c[name], dtype) for name, dtype in _FACTS))
    household = np.asarray(c["household"], np.int64)
    return assemble(t, slot, claimant, household, claimant, pidx, missing_policy, policies,
                    facts)


_FACTS = (("position", np.int64), ("visit_day", np.int32), ("facility_level", np.int8),
          ("facility_region", np.int64), ("expense", np.int64), ("cause", np.int8),
          ("reversal_position", np.int64))


def columnar_whatif(engine: Engine, scope: Scope, sc: ScopeColumns, baseline: Side,
                    reform: PolicyBook, patch: Mapping[str, Any]) -> Side:
    """The reform side of a claims-only patch, settled from the columnar store's columns."""
    reuse_freed_memory()
    side = Side()
    # a claims-only patch leaves every person-year as recorded: the baseline's, shared (no
    # one writes to either side after this)
    side.person_years = baseline.person_years
    for region, year in baseline.person_years.regions_years():
        policy = reform.find(region, year)
        if policy is not None:
            side.policies.add(policy.ref)
    n = len(sc)
    kernel = kernel_input_of(sc, reform)
    res = kernel.settle()
    rows = kernel.rows
    refused = res.reason != 0
    every = rows.size == n  # every claimant enrolled: the kernel's rows are the claims
    codes = res.reason if every else np.full(n, _NOT_ENROLLED, np.int8)
    if not every:
        codes[rows] = res.reason
    amounts = []
    for column in (res.eligible_expense, res.reimbursable, res.reimbursed, res.pool_cap,
                   res.pool_used_before, res.pool_remaining_after):
        column[refused] = 0  # the kernel's own arrays, used by no one else
        if not every:
            full = np.zeros(n, np.int64)
            full[rows] = column
            column = full
        amounts.append(column)
    side.claims = ClaimTable(sc.claims["claim_id"], codes, REFORM_REASONS, amounts)
    side.rejected.update({("claim", r): k for r, k in side.claims.reason_counts().items()})

    # a reversal of a claim the reform refused is recorded as reversed before the claim
    # (ADR 46): no rejection, as in the exact engine's replay
    c = sc.claims
    ok = codes == 0
    kept = ok & (c["reversal_position"] == NEVER)
    used = _sums(sc.household_count, c["household"], amounts[2], kept)
    settled_pools = np.bincount(c["pool"][ok], minlength=len(sc.pools))
    for k in np.flatnonzero(settled_pools).tolist():
        policy = reform.find(*sc.pools[k])
        if policy is not None:
            side.policies.add(policy.ref)
    side.households = _household_totals(sc, baseline, used, reform)
    return side


def _household_totals(sc: ScopeColumns, baseline: Side, used: np.ndarray,
                      reform: PolicyBook) -> Any:
    """Each household's pool under the reform, as `fast._household_totals` folds it from the
    timeline, column-wise: its members not gone, those who count for the cap and the cap
    they give under the reform's per-person cap (`pool_cap`); households without members are
    left out. Heads are the baseline's."""
    counts = member_counts(sc)
    each = np.zeros(max(1, len(sc.pools)), np.int64)
    for k, pool in enumerate(sc.pools):
        policy = reform.find(*pool)
        if policy is not None:
            each[k] = policy.outpatient.per_person_cap.fen
    pool = sc.households["pool"]
    caps = _caps(each[pool], counts.covered)
    rows = np.flatnonzero(counts.rows)
    base = baseline.households
    if isinstance(base, HouseholdTable):
        heads = base.heads
    else:  # the baseline's pools came from the views: heads as they decoded them
        ids = sc.households["household_id"].to_pylist()
        heads = [base[UUID(h)].head for h in ids]
    return HouseholdTable(sc.households["household_id"], heads, pool, sc.pools, caps, used,
                          counts.members, counts.covered, rows, HouseholdTotals)
