"""The ledger application: the eventsourcing store, batched command execution, queries."""

from __future__ import annotations

import gc
import json
import random
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from attrs import frozen
from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.persistence import (
    ApplicationRecorder,
    JSONTranscoder,
    RecordConflictError,
    StoredEvent,
    Transcoding,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteFactory
from eventsourcing.utils import Environment, EnvType
from psycopg.rows import tuple_row

from adapters import chain, personal
from adapters.store import quoted
from domain import commands as c
from domain.aggregates import (
    ClaimRef,
    Household,
    PaymentRef,
    Person,
    StreamIds,
    claim_ref_id,
    payment_ref_id,
)
from domain.commands import parse_command
from domain.errors import InvalidInput, LedgerError, Rejected
from domain.money import Money
from domain.policy import PolicyBook
from domain.rules.coverage import CoverageFacts
from domain.service import LedgerService, Outcome

MAX_LINE = 64 * 1024
MAX_CONFLICT_RETRIES = 20


class DateAsISO(Transcoding):
    """Stored schema: transcoding name "date", value YYYY-MM-DD."""

    type = date
    name = "date"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class MoneyAsFen(Transcoding):
    """Stored schema: transcoding name "money", value integer fen."""

    type = Money
    name = "money"

    def encode(self, obj: Money) -> int:
        return obj.fen

    def decode(self, data: int) -> Money:
        return Money(data)


class CoverageFactsAsDict(Transcoding):
    """Stored schema: transcoding name "coverage_facts"."""

    type = CoverageFacts
    name = "coverage_facts"

    def encode(self, obj: CoverageFacts) -> dict[str, Any]:
        return {"category": obj.category, "birth_date": obj.birth_date.isoformat(),
                "identity": obj.identity, "prior_insured": obj.prior_insured,
                "broken_years": obj.broken_years, "back_paid_years": obj.back_paid_years}

    def decode(self, data: dict[str, Any]) -> CoverageFacts:
        return CoverageFacts(
            category=data["category"], birth_date=date.fromisoformat(data["birth_date"]),
            identity=data["identity"], prior_insured=data["prior_insured"],
            broken_years=data["broken_years"], back_paid_years=data["back_paid_years"])


class FastJSONTranscoder(JSONTranscoder):
    """The library's JSON format (`{"_type_": name, "_data_": ...}` for registered types),
    encoded by orjson; decoding stays the library's own. A state holding a UUID at its top
    level (orjson would write it bare) goes through the library's encoder instead."""

    OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
               | orjson.OPT_PASSTHROUGH_SUBCLASS)

    def encode(self, obj: Any) -> bytes:
        if type(obj) is dict and not any(type(v) is UUID for v in obj.values()):
            try:
                return orjson.dumps(obj, default=self._encode_obj, option=self.OPTIONS)
            except orjson.JSONEncodeError:
                pass  # the library's encoder raises the precise error, or copes
        return super().encode(obj)


class LedgerApplication(Application):
    """The event store of persons, households and their indexes."""

    name = "benefitpool"

    def __init__(self, env: EnvType | None = None, audit_key: bytes | None = None) -> None:
        self._audit_key = audit_key  # None: BENEFITPOOL_AUDIT_KEY, read when the store needs it
        super().__init__(env)
        self.use_personal(personal.personal_data(self.env.get("CIPHER_KEY")))

    def use_personal(self, codec: Any) -> None:
        """Take the codec of person data under this store's cipher key (ADR 21) for the read
        models, and its way of naming persons' and households' streams (ADR 25)."""
        self.personal = codec
        self.ids: StreamIds = codec.ids

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """The library would also take a cipher from the process environment (CIPHER_KEY,
        and BENEFITPOOL_CIPHER_KEY as this application's own setting); the ledger takes it
        only from `env`, where `open_ledger` puts it (ADR 21)."""
        environment = super().construct_env(name, env)
        given = dict(env or {})
        for setting in ("CIPHER_TOPIC", "CIPHER_KEY"):
            for variable in environment.create_keys(setting):
                environment.pop(variable, None)
            if setting in given:
                environment[setting] = given[setting]
        return environment

    def construct_recorder(self) -> ApplicationRecorder:
        """On SQLite and PostgreSQL, a recorder that chains every event by a keyed hash
        (ADR 16, ADR 19)."""
        if isinstance(self.factory, SQLiteFactory | PostgresFactory):
            key = self._audit_key if self._audit_key is not None else chain.audit_key()
            # Subclasses (readers, tests) open the same store: the table name is the ledger's.
            return chain.chained_recorder(self.factory, key, LedgerApplication.name)
        return super().construct_recorder()

    def construct_transcoder(self) -> JSONTranscoder:
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(MoneyAsFen())
        transcoder.register(CoverageFactsAsDict())

    def construct_repository(self) -> Repository:
        """No library-level aggregate cache: the ledger keeps its own (`AggregateCache`),
        which is refreshed by every save and cleared on every conflict."""
        return Repository(event_store=self.events, snapshot_store=self.snapshots)

    def existing_ids(self, ids: Iterable[UUID]) -> set[UUID] | None:
        """Which of these aggregates have any event, in one query per 500 ids (SQLite) or one
        query (PostgreSQL); None where the store offers no such query (then callers look up
        one by one)."""
        rows = self._events_of("DISTINCT originator_id", ids)
        return None if rows is None else {_uuid(row[0]) for row in rows}

    def aggregates(self, ids: Iterable[UUID]) -> dict[UUID, Any] | None:
        """These aggregates (those that exist), rebuilt from their events read in one query
        per 500 ids (SQLite) or one query (PostgreSQL); None where the store offers no such
        query. The same events, mapper and fold as `repository.get`, fewer round trips."""
        rows = self._events_of("originator_id, originator_version, topic, state", ids)
        if rows is None:
            return None
        found: dict[UUID, Any] = {}
        to_domain_event = self.mapper.to_domain_event
        for oid, version, topic, state in sorted(rows, key=lambda r: (str(r[0]), r[1])):
            uid = _uuid(oid)
            event = to_domain_event(StoredEvent(originator_id=uid, originator_version=version,
                                                topic=topic, state=bytes(state)))
            found[uid] = event.mutate(found.get(uid))
        return found

    def event_positions(self, ids: Iterable[UUID]) -> list[tuple[int, UUID, int]] | None:
        """(log position, originator id, version) of every event of these aggregates; None
        where the store offers no such query."""
        rows = self._events_of("{position}, originator_id, originator_version", ids)
        return None if rows is None else [(row[0], _uuid(row[1]), row[2]) for row in rows]

    def _events_of(self, columns: str, ids: Iterable[UUID]) -> list[Any] | None:
        """`SELECT columns` (`{position}`: the log position) of the events table, for the
        events of these aggregates; None for a store without SQL (the in-memory one)."""
        recorder = self.recorder
        ids = list(ids)
        if isinstance(recorder, SQLiteApplicationRecorder):
            select = (f"SELECT {columns.format(position='rowid')} FROM "
                      f"{recorder.events_table_name} WHERE originator_id IN ")
            rows: list[Any] = []
            with recorder.datastore.transaction(commit=False) as c:
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    c.execute(select + f"({','.join('?' * len(chunk))})",
                              [u.hex for u in chunk])
                    rows.extend(c.fetchall())
            return rows
        if isinstance(recorder, PostgresApplicationRecorder):
            table = f"{quoted(recorder.datastore.schema)}.{quoted(recorder.events_table_name)}"
            with recorder.datastore.get_connection() as conn, \
                    conn.cursor(row_factory=tuple_row) as c:
                c.execute(f"SELECT {columns.format(position='notification_id')} FROM {table} "
                          "WHERE originator_id = ANY(%s)", (ids,))
                return c.fetchall()
        return None

    def get_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None


@frozen
class Prepared:
    """A command parsed ahead of its batch: `(op, command)` or the `InvalidInput` that
    rejects it."""

    parsed: Any


class AggregateCache:
    """Aggregates as last saved by this process, so a batch need not replay their events.

    Safe under optimistic concurrency: a decision taken on a stale copy writes events whose
    version another writer already used, the save fails, the cache is cleared and the batch
    is decided again from the store.
    """

    def __init__(self, maxsize: int = 200_000) -> None:
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


class _Poisoned(LedgerError):
    """An unexpected error inside a batch: redo the batch one command at a time."""


def decode_line(text: str) -> Any:
    """Decode one JSON line strictly: no NaN, no duplicate keys, decimals stay exact."""
    if len(text) > MAX_LINE:
        raise InvalidInput(f"the line is longer than {MAX_LINE} characters")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise InvalidInput(f"the field {k!r} appears twice")
            out[k] = v
        return out

    def constant(name: str) -> Any:
        raise InvalidInput(f"{name} is not a number the contract accepts")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_float=Decimal,
                          parse_constant=constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as e:
        raise InvalidInput(f"the line is not valid JSON ({str(e)[:80]})") from None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Ledger:
    """Applies contract commands to the store, in atomic batches, and answers queries."""

    def __init__(self, app: LedgerApplication, policies: PolicyBook,
                 clock: Callable[[], datetime] = utc_now, cache_size: int = 200_000) -> None:
        self.app = app
        self.policies = policies
        self.service = LedgerService(policies, app.ids)
        self.clock = clock
        self.cache = AggregateCache(cache_size)

    # --- commands --------------------------------------------------------------------------

    def execute(self, command: dict[str, Any], line: int = 1) -> dict[str, Any]:
        """Apply one decoded command object; returns its result object."""
        return self._run_batch([(line, self._parse(command))])[0]

    def command_region(self, command: Any) -> str | None:
        """The region a parsed command acts in (ADR 20), read from this ledger's state (call
        it where the ledger's commands run); None when the ledger will refuse the command as
        unknown (unknown_person, unknown_claim)."""
        if isinstance(command, c.Register | c.Enroll):
            return command.region.code
        if isinstance(command, c.Claim):  # claim and quote: the facility's county
            return command.facility_region.code
        if isinstance(command, c.ReverseClaim):
            ref = self._latest(claim_ref_id(command.claim_id))
            household = self._latest(ref.household) if ref is not None else None
            settled = household.claims.get(command.claim_id) if household is not None else None
            return settled.facility_region if settled is not None else None
        # pay, grant_subsidy, refund, report_employee_insurance: where the person is enrolled
        # that year, else where they registered.
        person = self._latest(self.app.ids.person(command.person.key))
        if person is None:
            return None
        py = person.year(command.year)
        return py.region if py is not None else person.region

    def _latest(self, aggregate_id: UUID) -> Any:
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

    def prepare(self, data: Any) -> Prepared:
        """A decoded command object parsed once, to be applied later (an invalid one is kept
        as its rejection and answered as such)."""
        return Prepared(self._parse(data))

    def _prepared(self, command: dict[str, Any] | Prepared) -> Any:
        return command.parsed if isinstance(command, Prepared) else self._parse(command)

    def execute_lines(self, lines: Iterable[str], batch_size: int = 1000,
                      progress: Callable[[int], None] | None = None,
                      freeze_gc: bool = False) -> Iterator[dict[str, Any]]:
        """Apply a command file's lines in batches; yields one result per non-blank line.

        `freeze_gc` moves everything alive after each batch out of the cyclic collector's
        reach (gc.freeze), so a long ingest does not rescan its aggregate cache every time.
        """
        batch: list[tuple[int, Any]] = []
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                parsed = self._parse(decode_line(text))
            except InvalidInput as e:
                parsed = e
            batch.append((number, parsed))
            if len(batch) >= batch_size:
                yield from self._run_batch(batch)
                if progress:
                    progress(len(batch))
                if freeze_gc:
                    gc.freeze()
                batch = []
        if batch:
            yield from self._run_batch(batch)
            if progress:
                progress(len(batch))

    @staticmethod
    def _parse(data: Any) -> Any:
        try:
            return (data.get("op") if isinstance(data, dict) else None, parse_command(data))
        except InvalidInput as e:
            e.op = data.get("op") if isinstance(data, dict) and isinstance(
                data.get("op"), str) else None
            return e

    def _save(self, uow: BatchUnitOfWork, events: list[Any]) -> None:
        """Write a batch's events in one transaction, then share its aggregates."""
        if events:
            self.app.events.put(events)
        self.cache.put_all(a for a in uow.changed.values()
                           if not isinstance(a, PaymentRef | ClaimRef))

    def _run_batch(self, batch: list[tuple[int, Any]]) -> list[dict[str, Any]]:
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
                return self._one_by_one(batch)
            try:
                self._save(uow, events)
                return results
            except RecordConflictError:
                self.cache.evict(uow.cache)  # what this batch read may be stale
                continue
        return self._one_by_one(batch)

    def _one_by_one(self, batch: list[tuple[int, Any]]) -> list[dict[str, Any]]:
        results = []
        for number, parsed in batch:
            for attempt in range(MAX_CONFLICT_RETRIES):
                if attempt:
                    _back_off(attempt)
                uow = BatchUnitOfWork(self.app)
                events: list[Any] = []
                result = self._apply(uow, number, parsed, events, strict=False)
                try:
                    self._save(uow, events)
                    break
                except RecordConflictError:
                    self.cache.evict(uow.cache)
                    continue
            else:
                result = _rejected(number, _op_of(parsed), "conflict",
                                   "the command kept conflicting with concurrent writes")
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
            sys.stderr.write(personal.mask_text(traceback.format_exc()))
            return _rejected(number, op, "internal_error",
                             f"the ledger failed on this command ({type(e).__name__}); "
                             "nothing was recorded")
        for aggregate in outcome.changed:
            events.extend(aggregate.collect_events())
            uow.remember(aggregate)
        return {"line": number, "op": op, "status": "ok", "reason": None,
                "message": outcome.message, **outcome.fields}

    # --- queries (from the aggregates) ---------------------------------------------------------

    def person_view(self, ref: str, year: int | None = None) -> dict[str, Any]:
        from domain.identity import parse_person_ref

        key = parse_person_ref(ref).key
        person = self.app.get_or_none(self.app.ids.person(key))
        if person is None:
            raise Rejected("unknown_person", f"{ref} is not registered")
        if year is None:
            year = max(person.years) if person.years else None
        py = person.year(year) if year is not None else None
        reimbursed = Money(0)
        if py is not None:
            household = self.app.get_or_none(self.app.ids.household(py.household_head, year))
            if household is not None:
                reimbursed = household.used(key)
        return {
            "person": person.number, "year": year,
            "region": py.region if py else person.region,
            "household_head": _number(py.household_head) if py else None,
            "enrolled": bool(py and not py.terminated),
            "covered_from": py.covered_from.isoformat() if py and py.covered_from else None,
            "due": str(py.due) if py else None, "subsidy": str(py.subsidy) if py else None,
            "paid": str(py.paid) if py else "0.00",
            "refunded": str(py.refunded) if py else "0.00",
            "credit": str(py.credit) if py else "0.00",
            "reimbursed": str(reimbursed),
            "identity": py.identity if py else None,
        }

    def household_view(self, ref: str, year: int, as_of: date | None = None) -> dict[str, Any]:
        from domain.identity import parse_person_ref

        key = parse_person_ref(ref).key
        person = self.app.get_or_none(self.app.ids.person(key))
        if person is None:
            raise Rejected("unknown_person", f"{ref} is not registered")
        py = person.year(year)
        if py is None:
            raise Rejected("not_enrolled", f"{ref} is not enrolled for {year}")
        hid = self.app.ids.household(py.household_head, year)
        if as_of is None:
            household = self.app.get_or_none(hid)
        else:
            household = None
            for event in self.app.events.get(hid):
                if _business_day(event) > as_of:
                    if household is None:
                        break
                    continue
                if household is None:
                    household = event.mutate(None)
                else:
                    event.apply(household)
        policy = self.policies.find(py.region, year)
        if household is None:
            raise Rejected("not_enrolled", f"the household did not exist on {as_of}")
        covered = household.covered_members(as_of)
        cap = Money(policy.outpatient.per_person_cap.fen * len(covered)) if policy else Money(0)
        used = household.used()
        return {
            "head": _number(household.head), "year": year, "region": household.region,
            "members": [_number(m.person) for m in household.members.values() if not m.left],
            "covered_members": [_number(p) for p in covered],
            "cap": str(cap), "used": str(used), "remaining": str(max(Money(0), cap - used)),
            "claims": [
                {"claim_id": c.claim_id, "person": _number(c.person),
                 "visit_date": c.visit_date.isoformat(), "reimbursed": str(c.reimbursed),
                 "reversed": c.reversed}
                for c in household.claims.values()
            ],
            "as_of": as_of.isoformat() if as_of else None,
            "rule": policy.ref if policy else None,
        }


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
        if isinstance(command, c.Claim | c.ReverseClaim):
            yield claim_ref_id(command.claim_id)
        elif isinstance(command, c.Pay):
            yield payment_ref_id(command.payment_ref)
        elif isinstance(command, c.Register):
            yield ids.person(command.person.key)
        elif isinstance(command, c.Enroll) and command.household_head is None:
            yield ids.household(command.person.key, command.year)


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _business_day(event: Any) -> date:
    at = getattr(event, "at", None)
    return at.date() if isinstance(at, datetime) else date.min


def _op_of(parsed: Any) -> str | None:
    if isinstance(parsed, Rejected):
        return getattr(parsed, "op", None)
    return parsed[0]


def _rejected(number: int, op: str | None, reason: str, message: str) -> dict[str, Any]:
    return {"line": number, "op": op, "status": "rejected", "reason": reason,
            "message": message}


def _number(key: str) -> str:
    return key[4:] if key.startswith("doc:") else key


def open_ledger(url: str, policies: PolicyBook, audit_key: bytes | None = None,
                cipher_key: str | None = None) -> Ledger:
    """Open (creating tables if needed) the ledger at a database URL; its event chain is
    keyed by `audit_key`, by default BENEFITPOOL_AUDIT_KEY's; its events are encrypted under
    `cipher_key`, by default BENEFITPOOL_CIPHER_KEY's (none when unset). A store written
    under another cipher key, or none, is refused (`CipherKeyError`)."""
    from adapters.store import store_env

    key = cipher_key if cipher_key is not None else personal.cipher_key()
    app = LedgerApplication(env={**store_env(url), **personal.cipher_env(key)},
                            audit_key=audit_key)
    try:
        personal.check_store(app)
    except BaseException:
        app.close()
        raise
    return Ledger(app, policies)
