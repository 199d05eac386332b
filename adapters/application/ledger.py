"""The ledger: contract commands applied to the store in atomic batches, with retries."""

from __future__ import annotations

import random
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from adapters.application.ingest_run import Journal
from adapters.application.lines import Prepared, parse, parse_line
from adapters.application.unit_of_work import AggregateCache, BatchUnitOfWork
from adapters.stores.events import LedgerApplication
from adapters.stores.urls import STREAMS_CACHED
from domain import commands as c
from domain.aggregates import ClaimRef, CommandRef, PaymentRef, RefundRef
from domain.errors import LedgerError, Rejected
from domain.identity import mask_text
from domain.ids import StreamIds, claim_ref_id, command_ref_id, payment_ref_id, refund_ref_id
from domain.policy_book import PolicyBook
from domain.ports import Outcome
from domain.service import LedgerService
from projections.collector import PerBatch

MAX_CONFLICT_RETRIES = 20
#: The uniqueness indexes: written once, read once per command, not worth the shared cache.
INDEXES = (PaymentRef, RefundRef, ClaimRef, CommandRef)


class _Poisoned(LedgerError):
    """An unexpected error inside a batch: redo the batch one command at a time."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Ledger:
    """Applies contract commands to the store, in atomic batches."""

    def __init__(self, app: LedgerApplication, policies: PolicyBook,
                 clock: Callable[[], datetime] = utc_now, cache_size: int = STREAMS_CACHED) -> None:
        self.app = app
        self.policies = policies
        self.service = LedgerService(policies, app.ids)
        self.clock = clock
        self.cache = AggregateCache(cache_size)

    # --- commands --------------------------------------------------------------------------

    def execute(self, command: dict[str, Any], line: int = 1) -> dict[str, Any]:
        """Apply one decoded command object; returns its result object."""
        return self._run_batch([(line, parse(command))])[0]

    def latest(self, aggregate_id: UUID) -> Any:
        """An aggregate as this ledger last saved it, else from the store (a stale copy can
        only misplace a region check, never a decision)."""
        cached = self.cache.get(aggregate_id)
        return cached if cached is not None else self.app.get_or_none(aggregate_id)

    def warm(self, commands: list[dict[str, Any] | Prepared]) -> None:
        """Load into the cache, in one query, the persons these commands (decoded objects or
        `prepare`d) will read (a server checks a command's region on them before the command
        is decided)."""
        batch = [(n, self._prepared(command)) for n, command in enumerate(commands, start=1)]
        wanted = {i for i in _reads(batch, self.app.ids) if self.cache.get(i) is None}
        if len(wanted) < 2:
            return
        loaded = self.app.aggregates(wanted)
        if loaded:
            self.cache.put_all(loaded.values())

    def execute_many(self, commands: list[dict[str, Any] | Prepared]
                     ) -> list[dict[str, Any]]:
        """Apply decoded (or `prepare`d) command objects in order, saved together in one
        transaction."""
        return self._run_batch([(n, self._prepared(command))
                                for n, command in enumerate(commands, start=1)])

    def _prepared(self, command: dict[str, Any] | Prepared) -> Any:
        return command.parsed if isinstance(command, Prepared) else parse(command)

    def execute_lines(self, lines: Iterable[str], batch_size: int = 1000,
                      progress: Callable[[int], None] | None = None,
                      freeze_gc: bool = False, journal: Journal | None = None,
                      skip_through: int = 0) -> Iterator[dict[str, Any]]:
        """Apply a command file's lines in batches; yields one result per non-blank line
        after line `skip_through` (earlier ones are passed over). `progress` is told how many
        lines each batch applied.

        A `journal` records each batch's results in the batch's own transaction (ADR 45).
        `freeze_gc` runs the cyclic collector once per batch (`projections.collector.PerBatch`,
        ADR 112), so a long ingest does not rescan its aggregate cache every time.
        """
        with PerBatch(freeze_gc) as collector:
            batch: list[tuple[int, Any]] = []
            for number, text in enumerate(lines, start=1):
                if number <= skip_through or not text.strip():
                    continue
                batch.append((number, parse_line(text)))
                if len(batch) >= batch_size:
                    yield from self._run_batch(batch, journal)
                    if progress:
                        progress(len(batch))
                    collector.after_batch()
                    batch = []
            if batch:
                yield from self._run_batch(batch, journal)
                if progress:
                    progress(len(batch))

    def _save(self, uow: BatchUnitOfWork | None, events: list[Any],
              journal: Journal | None = None, results: list[dict[str, Any]] | None = None
              ) -> None:
        """Write a batch's events, and the journal's record of its results, in one
        transaction; then share its aggregates."""
        if journal is not None and results:
            events = events + journal.pending(results)
        if events:
            self.app.events.put(events)
        if journal is not None and results:
            journal.committed()
        if uow is not None:
            self.cache.put_all(a for a in uow.changed.values() if not isinstance(a, INDEXES))

    def _run_batch(self, batch: list[tuple[int, Any]], journal: Journal | None = None
                   ) -> list[dict[str, Any]]:
        for attempt in range(MAX_CONFLICT_RETRIES):
            if attempt:
                _back_off(attempt)
            uow = BatchUnitOfWork(self.app, self.cache)
            uow.prefetch(_lookups(batch, self.app.ids))
            uow.preload(_reads(batch, self.app.ids))
            events: list[Any] = []
            try:
                results = [self._apply(uow, number, parsed, events, strict=True)
                           for number, parsed in batch]
            except _Poisoned:
                self.cache.clear()
                return self._one_by_one(batch, journal)
            try:
                self._save(uow, events, journal, results)
                return results
            except RecordConflictError:
                self.cache.evict(uow.cache)  # what this batch read may be stale
                continue
        return self._one_by_one(batch, journal)

    def _one_by_one(self, batch: list[tuple[int, Any]], journal: Journal | None = None
                    ) -> list[dict[str, Any]]:
        results = []
        for number, parsed in batch:
            for attempt in range(MAX_CONFLICT_RETRIES):
                if attempt:
                    _back_off(attempt)
                uow = BatchUnitOfWork(self.app)
                events: list[Any] = []
                result = self._apply(uow, number, parsed, events, strict=False)
                try:
                    self._save(uow, events, journal, [result])
                    break
                except RecordConflictError:
                    self.cache.evict(uow.cache)
                    continue
            else:
                result = _rejected(number, _op_of(parsed), "conflict",
                                   "the command kept conflicting with concurrent writes")
                self._save(None, [], journal, [result])
            results.append(result)
        return results

    def _apply(self, uow: BatchUnitOfWork, number: int, parsed: Any, events: list[Any],
               strict: bool) -> dict[str, Any]:
        if isinstance(parsed, Rejected):
            return _rejected(number, getattr(parsed, "op", None), parsed.reason, parsed.message)
        op, command = parsed
        try:
            outcome: Outcome = self.service.handle(command, uow, self.clock())
        except Rejected as e:
            return _rejected(number, op, e.reason, e.message)
        except Exception as e:
            if strict:
                raise _Poisoned() from e
            sys.stderr.write(mask_text(traceback.format_exc()))
            return _rejected(number, op, "internal_error",
                             f"the ledger failed on this command ({type(e).__name__}); "
                             "nothing was recorded")
        for aggregate in outcome.changed:
            events.extend(aggregate.collect_events())
            uow.remember(aggregate)
        return {"line": number, "op": op, "status": "ok", "reason": None,
                "message": outcome.message, **outcome.fields}


def _reads(batch: list[tuple[int, Any]], ids: StreamIds) -> Iterator[UUID]:
    """The ids of persons a batch's commands will read (most of them exist already)."""
    for _, parsed in batch:
        if isinstance(parsed, Rejected):
            continue
        command = parsed[1]
        person = getattr(command, "person", None)
        if person is not None and not isinstance(command, c.Register):
            yield ids.person(person.key)
        head = getattr(command, "household_head", None)
        if head is not None:
            yield ids.person(head.key)


def _back_off(attempt: int) -> None:
    """Wait a random while before retrying a conflicting save, longer after each conflict, so
    that writers racing for one household spread out instead of colliding again."""
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** attempt)))


def _lookups(batch: list[tuple[int, Any]], ids: StreamIds) -> Iterator[UUID]:
    """The ids of aggregates a batch will most likely find absent: new persons, households,
    payment references and claim ids."""
    for _, parsed in batch:
        if isinstance(parsed, Rejected):
            continue
        command = parsed[1]
        if command.command_id is not None:
            yield command_ref_id(command.command_id)
        if isinstance(command, c.Claim | c.ReverseClaim):
            yield claim_ref_id(command.claim_id)
        elif isinstance(command, c.Pay):
            yield payment_ref_id(command.payment_ref)
        elif isinstance(command, c.Refund) and command.refund_ref is not None:
            yield refund_ref_id(command.refund_ref)
        elif isinstance(command, c.Register):
            yield ids.person(command.person.key)
        elif isinstance(command, c.Enroll) and command.household_head is None:
            yield ids.household(command.person.key, command.year)


def _op_of(parsed: Any) -> str | None:
    if isinstance(parsed, Rejected):
        return getattr(parsed, "op", None)
    return parsed[0]


def _rejected(number: int, op: str | None, reason: str, message: str) -> dict[str, Any]:
    return {"line": number, "op": op, "status": "rejected", "reason": reason,
            "message": message}
