"""The fast what-if engine reading the columnar store (ADR 50) instead of the SQL views.

For a patch of the claims rules only (`fast.changes_coverage` false): the scope's claims and
members come out of the columnar store as arrays (`adapters.stores.columnar.read`), the
claimant's member row and the household's member slots are joined there, and the kernel's
input is assembled by the same code as from the views (`fast.assemble`); the per-claim
outcomes stay columns (`outcomes.ClaimTable`). The pools and person-years of the baseline
are read from the views as before (a few rows per household). The outcomes, totals and
households are the ones `fast.fast_whatif` gives from the views: the integration and property
tests compare both paths claim by claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from adapters.whatif.outcomes import ClaimTable, PersonYearTable
from domain.policy import Policy
from domain.policy_book import PolicyBook
from domain.rules.pool import pool_cap
from projections.personal import PLAIN, PersonalData

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
    """What the ledger recorded for the scope: claims and person-years from the columnar
    store, the household pools from the views."""
    side = Side()
    side.claims = ClaimTable(sc.claims["claim_id"], np.zeros(len(sc), np.int8), (None,),
                             sc.recorded())
    side.policies.update(f"{pid}@{version}" for pid, version in sc.recorded_policies)
    pools_and_person_years(engine, scope, side, personal, person_years=False)
    side.person_years = PersonYearTable(sc.person_years, PersonYearMoney)
    side.policies.update(side.person_years.rules())
    return side


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
    pidx = np.where(missing_policy, 0, pidx).astype(np.int32)

    size = len(m["hno"])

    def column(name: str, none: int, dtype: Any) -> np.ndarray:
        return np.append(m[name].astype(dtype), np.array([none], dtype))

    t = MemberArrays(
        column("region", 0, np.int64), column("covered_from", 0, np.int32),
        column("covered_to", 0, np.int32), column("covered_position", NEVER, np.int64),
        column("suspended_position", NEVER, np.int64), column("left_position", NEVER, np.int64),
        column("joined_position", NEVER, np.int64))
    claimant = np.where(c["claimant"] >= 0, c["claimant"], size).astype(np.int64)

    # every member slot of each household: (households x widest household); members come
    # ordered by household number
    hno = m["hno"].astype(np.int64)
    counts = np.bincount(hno, minlength=len(sc.household_ids))
    width = max(1, int(counts.max()) if counts.size else 1)
    slot = np.full((len(sc.household_ids), width), size, np.int64)
    starts = np.cumsum(counts) - counts
    slot[hno, np.arange(size) - starts[hno]] = np.arange(size)

    facts = _Facts(c["position"].astype(np.int64), c["visit_day"].astype(np.int32),
                   c["facility_level"].astype(np.int8), c["facility_region"].astype(np.int64),
                   c["expense"].astype(np.int64), c["cause"].astype(np.int8),
                   c["reversal_position"].astype(np.int64))
    household = c["household"].astype(np.int64)
    return assemble(t, slot, claimant, household, claimant, pidx, missing_policy, policies,
                    facts)


def columnar_whatif(engine: Engine, scope: Scope, sc: ScopeColumns, baseline: Side,
                    reform: PolicyBook, patch: Mapping[str, Any]) -> Side:
    """The reform side of a claims-only patch, settled from the columnar store's columns."""
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
    codes = np.full(n, _NOT_ENROLLED, np.int8)
    codes[rows] = res.reason
    ok = codes == 0
    amounts = np.zeros((n, 6), np.int64)
    for j, column in enumerate((res.eligible_expense, res.reimbursable, res.reimbursed,
                                res.pool_cap, res.pool_used_before, res.pool_remaining_after)):
        amounts[rows, j] = column
    amounts[~ok] = 0
    side.claims = ClaimTable(sc.claims["claim_id"], codes, REFORM_REASONS, amounts)
    side.rejected.update({("claim", r): k for r, k in side.claims.reason_counts().items()})

    # a reversal of a claim the reform refused is recorded as reversed before the claim
    # (ADR 46): no rejection, as in the exact engine's replay
    household = sc.claims["household"].astype(np.int64)
    kept = ok & (sc.claims["reversal_position"] == NEVER)
    used = np.zeros(len(sc.household_ids), np.int64)
    np.add.at(used, household[kept], amounts[kept, 2])  # exact (bincount weighs in floats)
    pools_ok = np.unique(sc.claims["pool"][ok])
    for k in pools_ok.tolist():
        policy = reform.find(*sc.pools[k])
        if policy is not None:
            side.policies.add(policy.ref)
    _household_totals(side, baseline, sc, used.tolist(), reform)
    return side


def _household_totals(side: Side, baseline: Side, sc: ScopeColumns, used: list[int],
                      reform: PolicyBook) -> None:
    """Each household's pool under the reform, as `fast._household_totals` folds it from the
    timeline, column-wise: its members not gone, those who count for the cap
    (`domain.rules.pool.counts_for_cap` with no day: covered, not suspended, not gone) and
    the cap they give (`pool_cap`); households without members are left out."""
    m = sc.members
    hno = m["hno"].astype(np.int64)
    size = len(sc.household_ids)
    here = m["left_position"] == NEVER
    counting = (m["covered_position"] < NEVER) & (m["suspended_position"] == NEVER) & here
    rows = np.bincount(hno, minlength=size).tolist()
    members = np.bincount(hno[here], minlength=size).tolist()
    covered = np.bincount(hno[counting], minlength=size).tolist()
    number = {h.replace("-", ""): k for k, h in enumerate(sc.household_ids)}
    caps: dict[tuple[str, int, int], int] = {}
    for hid, b in baseline.households.items():
        k = number.get(hid.hex)
        if k is None or not rows[k]:
            continue
        n = covered[k]
        cap = caps.get((b.region, b.year, n))
        if cap is None:
            policy = reform.find(b.region, b.year)
            cap = caps[(b.region, b.year, n)] = (
                pool_cap(policy.outpatient.per_person_cap, n).fen if policy else 0)
        side.households[hid] = HouseholdTotals(b.head, b.year, b.region, cap=cap,
                                               reimbursed=used[k], members=members[k],
                                               covered=n)
