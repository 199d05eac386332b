"""What-if over a deployment: each region's history re-decided by its own store (in
parallel), the two sides merged and summarised as one store's would be (ADR 56)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any

from attrs import evolve, frozen

from adapters.stores.deployment_files import Deployment
from adapters.usecases.regional_queries import fan_out
from adapters.usecases.whatif import PAY_NEW_DUE_ONLY, WhatIf, summarise
from adapters.whatif.behaviour import Behaviour
from adapters.whatif.exact import Scope, Side, report
from adapters.whatif.outcomes import (
    ClaimCounts,
    ClaimTable,
    DistinctCounts,
    HouseholdTable,
    PersonYearTable,
    join_claims,
    join_counts,
    join_households,
    join_person_years,
)
from domain.policy_book import PolicyBook


@frozen
class RegionWhatIfJob:
    """One region's share of a what-if (picklable: it crosses to a Dask worker)."""

    prefix: str
    url: str
    policies: str | None
    reform: PolicyBook
    patch: dict[str, Any]
    scope: Scope
    engine: str
    behaviour: Behaviour = PAY_NEW_DUE_ONLY


def whatif_deployment(deployment: Deployment, scope: Scope, engine: str,
                      run_region: Callable[[Any], WhatIf], make_job: Callable[[Any], Any],
                      executor: Executor | None = None, book: PolicyBook | None = None,
                      reform: PolicyBook | None = None,
                      behaviour: Behaviour = PAY_NEW_DUE_ONLY,
                      patch: dict[str, Any] | None = None) -> WhatIf:
    """Every region under the scope's prefix re-decided by its own store; one what-if."""
    regions = deployment.within(scope.region)
    results = fan_out(regions, lambda r: run_region(make_job(r)), executor) \
        if executor is None else list(executor.map(run_region, [make_job(r) for r in regions]))
    return merged(results, scope, engine, book, reform, behaviour, patch)


def merged(results: Iterable[WhatIf], scope: Scope, engine: str,
           book: PolicyBook | None = None, reform: PolicyBook | None = None,
           behaviour: Behaviour = PAY_NEW_DUE_ONLY, patch: dict[str, Any] | None = None
           ) -> WhatIf:
    """Several regions' what-ifs as one: their sides joined (households, person-years and
    claims never belong to two regions), summarised by the one-store summary (with the fund
    flows when the policies, `book` and `reform`, are given)."""
    results = list(results)
    counts = DistinctCounts()  # both sides hold the same claims and persons (ADR 119)
    # a deployment's regions never share a key (ADR 125)
    base = merge_sides((r.baseline for r in results), counts, distinct=True)
    side = merge_sides((r.reform for r in results), counts, distinct=True)
    # no region decided apart without the behavioural response: the reform side is it, as
    # on one store (the summary then reports no moves without looking for any)
    mechanical = side if all(r.mechanical is None or r.mechanical is r.reform
                             for r in results) else merge_sides(
        (r.mechanical or r.reform for r in results), counts, distinct=True)
    if book is not None and reform is not None:
        summary = summarise(scope, base, side, mechanical, engine, book, reform, behaviour,
                            patch or {})
    else:
        summary = report(scope, base, side, engine)
    disagreements = [d for r in results for d in r.disagreements]
    if engine == "both":
        summary["engines_agree"] = not disagreements
        summary["disagreements"] = len(disagreements)
    return WhatIf(scope, summary, base, side, disagreements, mechanical)


def counted_in_region(result: WhatIf) -> WhatIf:
    """A region's what-if with its claim outcomes counted where they were decided (ADR 121):
    a deployment's what-if reports how many claims each side holds, how many each reason
    names and how many changed, never a claim alone, so the outcomes stay in the region and
    only their counts cross to the caller; households and person-years travel whole (the
    files and the fund flows are made of them)."""
    base = result.baseline
    counted = ClaimCounts.of(base.claims)

    def side(s: Side) -> Side:
        return evolve(s, claims=ClaimCounts.of(s.claims, base.claims))

    reform = side(result.reform)
    mechanical = None if result.mechanical is None else (
        reform if result.mechanical is result.reform else side(result.mechanical))
    return evolve(result, baseline=evolve(base, claims=counted), reform=reform,
                  mechanical=mechanical)


def merge_sides(sides: Iterable[Side], counts: DistinctCounts | None = None,
                distinct: bool = False) -> Side:
    """Several regions' sides as one. Outcomes held as columns stay columns, joined end to
    end (ADR 113); anything else, or tables that share a key, merge as dicts would (a later
    region's entry for the same key wins). `counts` remembers the keys' distinct counts
    across the sides of one what-if (ADR 119); `distinct`: the sides are a deployment's
    regions, whose claims, households and person-years never repeat (ADR 125), joined
    without counting their keys."""
    sides = list(sides)
    counts = counts or DistinctCounts()
    out = Side()
    claims = [s.claims for s in sides]
    out.claims = join_counts(claims) if claims and all(
        isinstance(c, ClaimCounts) for c in claims) else _joined(
        claims, ClaimTable, lambda parts: join_claims(parts, counts, distinct))
    out.households = _joined([s.households for s in sides], HouseholdTable,
                             lambda parts: join_households(parts, counts, distinct))
    out.person_years = _joined([s.person_years for s in sides], PersonYearTable,
                               lambda parts: join_person_years(parts, counts, distinct))
    for side in sides:
        out.policies |= side.policies
        out.rejected.update(side.rejected)
    return out


def _joined(parts: list[Any], table: type, join: Callable[[list[Any]], Any]) -> Any:
    if len(parts) > 1 and all(isinstance(p, table) for p in parts):
        joined = join(parts)
        if joined is not None:
            return joined
    if len(parts) == 1:
        return parts[0]
    out: dict[Any, Any] = {}
    for part in parts:
        out.update(part)
    return out
