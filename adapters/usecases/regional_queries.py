"""Queries over a deployment: a person's or household's question answered by the ledger of
the region that holds it, a report over a prefix answered by every region under it and merged
(ADR 56)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any, TypeVar

from adapters.stores.deployment_files import Deployment, RegionStore
from adapters.stores.directory import Directory, person_ref
from domain.errors import InvalidInput
from domain.identity import parse_person_ref

T = TypeVar("T")


def region_of_person(deployment: Deployment, directory: Directory, key: bytes, number: str,
                     year: int | None) -> RegionStore:
    """The region whose ledger answers for a person in a year: where the person is enrolled
    that year, else where the person last registered, else the first region (whose answer is
    then the ledger's `unknown_person`)."""
    try:
        ref = person_ref(key, parse_person_ref(number).key)
    except InvalidInput:
        return deployment.regions[0]
    if year is not None:
        holder = directory.holders([(ref, year)]).get((ref, year))
        if holder is not None:
            return deployment.by_prefix(holder.region)
    registered = directory.registered([ref]).get(ref)
    return deployment.by_prefix(registered[-1]) if registered else deployment.regions[0]


def fan_out(regions: Iterable[RegionStore], ask: Callable[[RegionStore], T],
            executor: Executor | None = None) -> list[T]:
    """`ask` of every region, in parallel on `executor` when given; answers in region order."""
    regions = list(regions)
    if executor is None or len(regions) < 2:
        return [ask(r) for r in regions]
    return list(executor.map(ask, regions))


def merged_rows(answers: Iterable[list[dict[str, Any]]], *keys: str) -> list[dict[str, Any]]:
    """Report rows of several regions as one report: sorted by `keys`, each region's own order
    kept within equal keys (the regions' codes never overlap)."""
    rows = [row for answer in answers for row in answer]
    return sorted(rows, key=lambda r: tuple(r[k] for k in keys))
