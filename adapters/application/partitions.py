"""The partition plan of a replay: the log's commands split into parts that never meet (ADR 54).

A command's decision reads and writes streams: the person's, the household-year's, the head's,
and the uniqueness indexes (payment and refund references, claim ids, command ids) it looks
up and claims. Every command the ledger recorded wrote to the streams it decided on, so the
commands that wrote to a common stream belong together; the connected components of "wrote to
the same stream" are independent, and are packed, largest first, into a number of parts of
about equal size. A household-year thus travels with its members' person streams (and their
other years), an index with the command that claimed it.

The plan is read from the log's columns alone (position, originator id, topic): nothing is
decoded. That a replay of one part never touched a stream of another is checked as it runs
(`ReplayStore.touched`); parts that met are merged and replayed again (`merge_met`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol
from uuid import UUID

from attrs import frozen
from eventsourcing.utils import get_topic

from adapters.application.ingest_run import OPERATIONAL
from adapters.application.replay import PRIMARY, LoggedEvent, missing_fields
from domain.errors import LedgerError

PRIMARY_TOPICS = frozenset(get_topic(cls) for cls in PRIMARY)
OPERATIONAL_TOPICS = frozenset(get_topic(cls) for cls in OPERATIONAL)


@frozen
class Part:
    """One part of a plan: the positions of its events, ascending, and the streams they
    belong to (32 hex digits)."""

    positions: tuple[int, ...]
    streams: frozenset[str]

    @property
    def events(self) -> int:
        return len(self.positions)


@frozen
class Plan:
    """The parts of the log up to `upto`; `operational` counts the journal events no part
    holds (they are chained, not decided)."""

    upto: int
    parts: tuple[Part, ...]
    operational: int
    components: int


class PartitionsUnavailable(LedgerError):
    """The store offers no partitioned reading (an in-memory store)."""

    reason = "partitions_unavailable"


def head_of(app: Any, upto: int | None) -> int:
    """The position a replay stops at: `upto`, or the log's head."""
    head = app.recorder.max_notification_id() or 0
    return head if upto is None else min(upto, head)


def plan_of(app: Any, parts: int, upto: int | None = None) -> Plan:
    """The partition plan of a store's log up to a position, from its columns."""
    upto = head_of(app, upto)
    rows = app.log_index(upto) if hasattr(app, "log_index") else None
    if rows is None:
        raise PartitionsUnavailable("partitioned replays need a store its workers can open "
                                    "(an SQLite file or PostgreSQL), not an in-memory one")
    return plan_partitions(rows, parts, upto)


def part_events(app: Any, positions: Sequence[int],
                undecodable: Callable[[int, Exception], None] | None = None
                ) -> Iterator[LoggedEvent]:
    """A part's events, decoded, in log order; an event that cannot be decoded, or lacks a
    field of its type, is passed to `undecodable` and skipped (raised without it), as
    `read_log` does."""
    found = app.events_at(positions)
    if found is None:
        raise PartitionsUnavailable("this store cannot be read by positions")
    for position, event in found:
        if isinstance(event, Exception):
            if undecodable is None:
                raise event
            undecodable(position, event)
            continue
        if undecodable is not None:
            missing = missing_fields(event)
            if missing:
                undecodable(position, ValueError(f"its {type(event).__qualname__} lacks "
                                                 f"{', '.join(missing)}"))
                continue
        yield LoggedEvent(position, event)


def noting(log: Iterable[LoggedEvent], streams: set[UUID]) -> Iterator[LoggedEvent]:
    """The events of a log, their streams noted in `streams` as they pass."""
    for le in log:
        streams.add(le.event.originator_id)
        yield le


class _Components:
    """Union-find over stream ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        root = parent.setdefault(x, x)
        while root != parent[root]:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def plan_partitions(rows: Iterable[tuple[int, str, str]], parts: int, upto: int) -> Plan:
    """Group the log's events (position, originator id, topic; in log order) into commands,
    join the commands that share a stream, and pack the components into `parts` parts."""
    number: dict[str, int] = {}  # stream -> its number in `parent`
    parent: list[int] = []
    positions: list[int] = []
    command_of: list[int] = []  # per event: the number of its command's first stream
    operational = 0
    first = -1  # the current command's first stream
    primary = PRIMARY_TOPICS
    for position, oid, topic in rows:
        if topic in OPERATIONAL_TOPICS:
            operational += 1
            continue
        n = number.get(oid)
        if n is None:
            n = number[oid] = len(parent)
            parent.append(n)
        if first < 0 or topic in primary:
            first = n  # a log that starts mid-command: its first events are one group
        elif n != first:
            a, b = _root(parent, first), _root(parent, n)
            if a != b:
                parent[b] = a
        positions.append(position)
        command_of.append(first)
    grouped: dict[int, list[int]] = {}
    for position, n in zip(positions, command_of, strict=True):
        grouped.setdefault(_root(parent, n), []).append(position)
    names = list(number)
    streams: dict[int, set[str]] = {}
    for n in range(len(parent)):
        streams.setdefault(_root(parent, n), set()).add(names[n])
    groups = [(found, streams[root]) for root, found in grouped.items()]
    return Plan(upto, _pack(groups, parts), operational, len(groups))


def _root(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


def _pack(groups: list[tuple[list[int], set[str]]], parts: int) -> tuple[Part, ...]:
    """The largest group first onto the lightest part (ties: the lowest part)."""
    parts = max(1, min(parts, len(groups)))
    heap = [(0, n) for n in range(parts)]
    bins: list[tuple[list[int], set[str]]] = [([], set()) for _ in range(parts)]
    for positions, streams in sorted(groups, key=lambda g: (-len(g[0]), g[0][0])):
        load, n = heapq.heappop(heap)
        bins[n][0].extend(positions)
        bins[n][1].update(streams)
        heapq.heappush(heap, (load + len(positions), n))
    return tuple(Part(tuple(sorted(p)), frozenset(s)) for p, s in bins if p)


def merge_met(parts: Sequence[Part], foreign: Sequence[set[UUID]]) -> list[list[int]]:
    """Which parts must be replayed together: part i touched the streams `foreign[i]` that
    its plan does not hold. Returns the groups (indexes into `parts`) of two or more parts that
    met (a stream of one touched by another, or one stream touched by two), [] if none."""
    owner: dict[str, int] = {}
    for n, part in enumerate(parts):
        for s in part.streams:
            owner[s] = n
    components = _Components()
    met = False
    for n, ids in enumerate(foreign):
        for i in ids:
            other = owner.setdefault(i.hex, n)  # a stream in no plan: first toucher holds it
            if other != n:
                components.union(str(n), str(other))
                met = True
    if not met:
        return []
    groups: dict[str, list[int]] = {}
    for n in range(len(parts)):
        groups.setdefault(components.find(str(n)), []).append(n)
    return [g for g in groups.values() if len(g) > 1]


def merged(parts: Sequence[Part]) -> Part:
    """Several parts as one."""
    return Part(tuple(sorted(p for part in parts for p in part.positions)),
                frozenset().union(*(part.streams for part in parts)))


class PartResult(Protocol):
    """What a part's replay gives back: at least the streams it touched that it does not
    hold."""

    foreign: frozenset[UUID]


#: Runs a replay of each part (possibly elsewhere) and yields (index into the parts, result)
#: as each completes, in any order.
PartRunner = Callable[[Plan, Sequence[Part]], Iterable[tuple[int, Any]]]


def run_apart(plan: Plan, run: PartRunner, done: Callable[[int], None] | None = None
              ) -> list[Any]:
    """The results of every part of a plan, replayed by `run`, such that no two parts met:
    parts that met are merged and replayed together again, until none meet (ADR 54). `done`
    is told how many events each part of the first round held as it completes. The results
    are in no particular order."""
    parts = list(plan.parts)
    results: dict[int, Any] = {}
    pending = list(range(len(parts)))
    first = True
    while pending:
        for n, found in run(plan, [parts[i] for i in pending]):
            results[pending[n]] = found
            if done is not None and first:
                done(parts[pending[n]].events)
        first = False
        groups = merge_met(parts, [set(results[i].foreign) for i in range(len(parts))])
        if not groups:
            break
        joined = {i for g in groups for i in g}
        keep = [i for i in range(len(parts)) if i not in joined]
        parts = [parts[i] for i in keep] + [merged([parts[i] for i in g]) for g in groups]
        results = {k: results[i] for k, i in enumerate(keep)}
        pending = list(range(len(keep), len(parts)))
    return list(results.values())
