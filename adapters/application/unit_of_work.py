"""The unit of work of a batch and the aggregate cache shared between batches."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from adapters.stores.events import LedgerApplication
from adapters.stores.urls import STREAMS_CACHED
from domain.aggregates import ClaimRef, CommandRef, Household, PaymentRef, Person, RefundRef
from domain.ids import claim_ref_id, command_ref_id, payment_ref_id, refund_ref_id


class AggregateCache:
    """Aggregates as last saved by this process, so a batch need not replay their events.

    Safe under optimistic concurrency: a decision taken on a stale copy writes events whose
    version another writer already used, the save fails, what the batch read is evicted and
    the batch is decided again from the store (ADR 32); the least recently used aggregates
    leave beyond `maxsize`.
    """

    def __init__(self, maxsize: int = STREAMS_CACHED) -> None:
        self.maxsize = maxsize
        self.entries: OrderedDict[UUID, Any] = OrderedDict()

    def get(self, aggregate_id: UUID) -> Any:
        agg = self.entries.get(aggregate_id)
        if agg is not None:
            self.entries.move_to_end(aggregate_id)
        return agg

    def put_all(self, aggregates: Iterable[Any]) -> None:
        for agg in aggregates:
            self.entries[agg.id] = agg
            self.entries.move_to_end(agg.id)
        while len(self.entries) > self.maxsize:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()

    def evict(self, ids: Iterable[UUID]) -> None:
        for aggregate_id in list(ids):
            self.entries.pop(aggregate_id, None)


class BatchUnitOfWork:
    """Loads aggregates once per batch; the batch's aggregates stay in memory until saved."""

    def __init__(self, app: LedgerApplication, shared: AggregateCache | None = None) -> None:
        self.app = app
        self.shared = shared
        self.cache: dict[UUID, Any] = {}
        self.changed: dict[UUID, Any] = {}

    def _get(self, aggregate_id: UUID) -> Any:
        try:
            return self.cache[aggregate_id]
        except KeyError:
            agg = self.shared.get(aggregate_id) if self.shared is not None else None
            if agg is None:
                agg = self.app.get_or_none(aggregate_id)
            self.cache[aggregate_id] = agg
            return agg

    def remember(self, aggregate: Any) -> None:
        self.cache[aggregate.id] = aggregate
        self.changed[aggregate.id] = aggregate

    def prefetch(self, ids: Iterable[UUID]) -> None:
        """Learn in one query which of the ids a batch will look up do not exist yet."""
        wanted = {i for i in ids if i not in self.cache
                  and (self.shared is None or self.shared.get(i) is None)}
        if not wanted:
            return
        existing = self.app.existing_ids(wanted)
        if existing is None:
            return
        for i in wanted - existing:
            self.cache[i] = None

    def preload(self, ids: Iterable[UUID]) -> None:
        """Load in one query the existing aggregates a batch will read that no cache holds."""
        wanted = {i for i in ids if i not in self.cache
                  and (self.shared is None or self.shared.get(i) is None)}
        if len(wanted) < 2:
            return
        loaded = self.app.aggregates(wanted)
        if loaded is not None:
            self.cache.update(loaded)

    def person(self, key: str) -> Person | None:
        return self._get(self.app.ids.person(key))

    def household(self, head: str, year: int) -> Household | None:
        return self._get(self.app.ids.household(head, year))

    def household_by_id(self, hid: UUID) -> Household | None:
        return self._get(hid)

    def payment_ref(self, ref: str) -> PaymentRef | None:
        return self._get(payment_ref_id(ref))

    def claim_ref(self, claim_id: str) -> ClaimRef | None:
        return self._get(claim_ref_id(claim_id))

    def refund_ref(self, ref: str) -> RefundRef | None:
        return self._get(refund_ref_id(ref))

    def command_ref(self, command_id: str) -> CommandRef | None:
        return self._get(command_ref_id(command_id))
