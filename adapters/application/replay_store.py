"""The throw-away store of a replay: each stream's new events kept as the objects they are.

A replay decides the recorded commands afresh and never writes them anywhere; what it saves is
read back only by the replay itself. Keeping the saved events as domain objects, per stream,
spares the encoding of every new event (and its decoding when read back) that the library's
in-memory recorder would do. Aggregates are folded from those events when the ledger's cache
does not hold them (after a batch was redone one command at a time), exactly as the library
folds them (`event.mutate`).

The store and the cache also note every stream the replay looked at or wrote (`touched`): a
partitioned replay (ADR 54) checks with it that its partitions never met.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from adapters.application.unit_of_work import AggregateCache
from domain.ids import StreamIds


class ReplayEvents:
    """`put` for the ledger's save: new events appended to their streams, nothing encoded."""

    def __init__(self, store: ReplayStore) -> None:
        self.store = store

    def put(self, events: Iterable[Any]) -> None:
        streams = self.store.streams
        touched = self.store.touched
        for event in events:
            oid = event.originator_id
            touched.add(oid)
            streams.setdefault(oid, []).append(event)


class ReplayStore:
    """What a `Ledger` asks of its application, for a replay held in memory."""

    def __init__(self, ids: StreamIds) -> None:
        self.ids = ids
        self.streams: dict[UUID, list[Any]] = {}
        self.touched: set[UUID] = set()
        self.events = ReplayEvents(self)

    def get_or_none(self, aggregate_id: UUID) -> Any:
        self.touched.add(aggregate_id)
        events = self.streams.get(aggregate_id)
        if not events:
            return None
        aggregate = None
        for event in events:
            aggregate = event.mutate(aggregate)
        return aggregate

    def existing_ids(self, ids: Iterable[UUID]) -> set[UUID]:
        ids = set(ids)
        self.touched.update(ids)
        return {i for i in ids if i in self.streams}

    def aggregates(self, ids: Iterable[UUID]) -> dict[UUID, Any]:
        found = {}
        for i in set(ids):
            aggregate = self.get_or_none(i)
            if aggregate is not None:
                found[i] = aggregate
        return found


class TrackingCache(AggregateCache):
    """The replay ledger's aggregate cache, noting every stream asked for or put."""

    def __init__(self, touched: set[UUID], maxsize: int) -> None:
        super().__init__(maxsize)
        self.touched = touched

    def get(self, aggregate_id: UUID) -> Any:
        self.touched.add(aggregate_id)
        return super().get(aggregate_id)

    def put_all(self, aggregates: Iterable[Any]) -> None:
        aggregates = list(aggregates)
        self.touched.update(a.id for a in aggregates)
        super().put_all(aggregates)
