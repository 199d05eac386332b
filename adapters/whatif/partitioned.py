"""The what-if replays in partitions (ADR 54): the exact engine's history, and the fast
engine's re-derivation of coverage, each part read and replayed under the reform on its own,
merged into what the whole replay gives."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from attrs import frozen

from adapters.application.partitions import Part, PartRunner, Plan, noting, part_events, run_apart
from adapters.whatif.behaviour import AS_RECORDED, Behaviour
from adapters.whatif.exact import Scope, Side, exact_replay, history_of
from adapters.whatif.fast import Timeline, replay_timeline
from domain.aggregates import Household
from domain.policy_book import PolicyBook
from projections.personal import PersonalData


@frozen
class WhatIfPart:
    """One part's baseline and reform sides, where each of its claims stands in the log, and
    the streams its replay touched that it does not hold."""

    baseline: Side
    reform: Side
    claim_positions: dict[str, int]
    foreign: frozenset[UUID]


def whatif_part(app: Any, book: PolicyBook, reform: PolicyBook, scope: Scope,
                positions: Sequence[int], freeze_gc: bool = False,
                behaviour: Behaviour = AS_RECORDED) -> WhatIfPart:
    """Read one part's history and replay it under the reform (on a worker: `app` opened
    there, read-only; `freeze_gc`: see `Replayer.run`)."""
    own: set[UUID] = set()
    history = history_of(noting(part_events(app, positions), own), book, scope, app.ids)
    side, touched = exact_replay(history, reform, freeze_gc, behaviour)
    claims = {rc.primary.claim_id: rc.position for rc in history.commands
              if isinstance(rc.primary, Household.OutpatientClaimSettled)}
    return WhatIfPart(history.baseline, side, claims, frozenset(touched - own))


def merge_sides(sides: Iterable[Side], order: dict[str, int]) -> Side:
    """Parts' sides as one: their dicts joined (no key is in two parts), the rejections
    added, the claims in the order of the log."""
    out = Side()
    claims: dict[str, Any] = {}
    for side in sides:
        claims.update(side.claims)
        out.households.update(side.households)
        out.person_years.update(side.person_years)
        out.policies |= side.policies
        out.rejected.update(side.rejected)
    out.claims = dict(sorted(claims.items(), key=lambda kv: order.get(kv[0], 0)))
    return out


def exact_partitioned(plan: Plan, run: PartRunner, done: Callable[[int], None] | None = None
                      ) -> tuple[Side, Side]:
    """The baseline and reform sides of the exact engine, from a plan's parts replayed by
    `run` (`whatif_part` on each); `done` is told each part's events as it completes."""
    results: list[WhatIfPart] = run_apart(plan, run, done)
    order = {k: v for r in results for k, v in r.claim_positions.items()}
    return (merge_sides((r.baseline for r in results), order),
            merge_sides((r.reform for r in results), order))


def in_process(app: Any, book: PolicyBook, reform: PolicyBook, scope: Scope,
               behaviour: Behaviour = AS_RECORDED) -> PartRunner:
    """A runner replaying each part here, one after another."""

    def run(plan: Plan, parts: Sequence[Part]) -> Iterator[tuple[int, WhatIfPart]]:
        for n, part in enumerate(parts):
            yield n, whatif_part(app, book, reform, scope, part.positions,
                                 behaviour=behaviour)

    return run


# --- the fast engine's timeline ---------------------------------------------------------------


@frozen
class TimelinePart:
    """One part's members' timeline and person-year money under the reform, and the streams
    its replay touched that it does not hold."""

    rows: dict[tuple[str, str], list[Any]]
    side: Side
    foreign: frozenset[UUID]


def timeline_part(app: Any, reform: PolicyBook, scope: Scope, personal: PersonalData,
                  positions: Sequence[int], freeze_gc: bool = False,
                  behaviour: Behaviour = AS_RECORDED) -> TimelinePart:
    """Replay one part's person-side commands under the reform (on a worker)."""
    own: set[UUID] = set()
    t, side, touched = replay_timeline(noting(part_events(app, positions), own), app.ids,
                                       scope, reform, personal, freeze_gc, behaviour)
    return TimelinePart(t.rows, side, frozenset(touched - own))


def timeline_partitioned(plan: Plan, run: PartRunner, done: Callable[[int], None] | None = None
                         ) -> tuple[Timeline, Side]:
    """The fast engine's re-derived timeline and person-year money, from a plan's parts
    replayed by `run` (`timeline_part` on each): members in the order they joined."""
    results: list[TimelinePart] = run_apart(plan, run, done)
    t = Timeline()
    rows = [kv for r in results for kv in r.rows.items()]
    t.rows = dict(sorted(rows, key=lambda kv: kv[1][6]))
    return t, merge_sides((r.side for r in results), {})


def timeline_in_process(app: Any, reform: PolicyBook, scope: Scope, personal: PersonalData,
                        behaviour: Behaviour = AS_RECORDED) -> PartRunner:
    """A runner replaying each part's person side here, one after another."""

    def run(plan: Plan, parts: Sequence[Part]) -> Iterator[tuple[int, TimelinePart]]:
        for n, part in enumerate(parts):
            yield n, timeline_part(app, reform, scope, personal, part.positions,
                                   behaviour=behaviour)

    return run
