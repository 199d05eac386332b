"""The event store: the eventsourcing application of persons, households and their indexes,
its explicit transcodings (stored schema), and reads of many aggregates in one query."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from attrs import frozen
from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.persistence import (
    ApplicationRecorder,
    JSONTranscoder,
    MapperDeserialisationError,
    StoredEvent,
    Transcoding,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteFactory
from eventsourcing.utils import Environment, EnvType

from adapters.stores import chain, compression
from adapters.stores.cipher import personal_data
from adapters.stores.urls import LEDGER_NAME, is_postgres, quoted
from domain.ids import StreamIds
from domain.money import Money
from domain.rules.coverage import CoverageFacts

COMPRESSOR = "COMPRESSOR_TOPIC"


@lru_cache(maxsize=65536)
def _date(text: str) -> date:
    """A stored date (immutable: the same text gives one shared object)."""
    return date.fromisoformat(text)


@lru_cache(maxsize=65536)
def _money(fen: int) -> Money:
    """A stored amount (frozen: the same fen give one shared object)."""
    return Money(fen)


class DateAsISO(Transcoding):
    """Stored schema: transcoding name "date", value YYYY-MM-DD."""

    type = date
    name = "date"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return _date(data)


class MoneyAsFen(Transcoding):
    """Stored schema: transcoding name "money", value integer fen."""

    type = Money
    name = "money"

    def encode(self, obj: Money) -> int:
        return obj.fen

    def decode(self, data: int) -> Money:
        return _money(data) if type(data) is int else Money(data)


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


@frozen
class ResultsBlob:
    """A batch's result objects, kept compressed in the event that records the batch."""

    results: tuple[dict[str, Any], ...]


class ResultsBlobAsZlib(Transcoding):
    """Stored schema: transcoding name "results_zlib", value base64 of zlib-compressed JSON."""

    type = ResultsBlob
    name = "results_zlib"

    def encode(self, obj: ResultsBlob) -> str:
        text = orjson.dumps(list(obj.results))  # compact UTF-8 JSON, as json.dumps wrote it
        return base64.b64encode(zlib.compress(text, 6)).decode("ascii")

    def decode(self, data: str) -> ResultsBlob:
        return ResultsBlob(tuple(json.loads(zlib.decompress(base64.b64decode(data)))))


class ResultsBlobAsJSON(Transcoding):
    """Stored schema: transcoding name "results_json", value the list of result objects as
    JSON, compressed with the rest of the event's state (ADR 108). Batches recorded before
    keep "results_zlib" and stay readable."""

    type = ResultsBlob
    name = "results_json"

    def encode(self, obj: ResultsBlob) -> list[dict[str, Any]]:
        return list(obj.results)

    def decode(self, data: list[dict[str, Any]]) -> ResultsBlob:
        return ResultsBlob(tuple(data))


class FastJSONTranscoder(JSONTranscoder):
    """The library's JSON format (`{"_type_": name, "_data_": ...}` for registered types),
    encoded by orjson; decoding stays the library's own. A state holding a UUID at its top
    level (orjson would write it bare) goes through the library's encoder instead."""

    OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
               | orjson.OPT_PASSTHROUGH_SUBCLASS)

    def encode(self, obj: Any) -> bytes:
        if type(obj) is dict and UUID not in map(type, obj.values()):
            try:
                return orjson.dumps(obj, default=self._encode_obj, option=self.OPTIONS)
            except orjson.JSONEncodeError:
                pass  # the library's encoder raises the precise error, or copes
        return super().encode(obj)


class LedgerApplication(Application):
    """The event store of persons, households and their indexes."""

    name = LEDGER_NAME
    #: The library's compressor of event states (ADR 52); "" writes them as they are.
    compressor_topic = compression.COMPRESSOR_TOPIC
    #: The format of a new store's chain rows (ADR 53); a store keeps the format it has.
    chain_format = chain.CHAIN_FORMAT

    def __init__(self, env: EnvType | None = None, audit_key: bytes | None = None) -> None:
        #: The key of the event chain (ADR 16); None: the public development key.
        self.audit_key = chain.DEVELOPMENT_KEY if audit_key is None else audit_key
        super().__init__(env)
        self.use_personal(personal_data(self.env.get("CIPHER_KEY")))

    def use_personal(self, codec: Any) -> None:
        """Take the codec of person data under this store's cipher key (ADR 21) for the read
        models, and its way of naming persons' and households' streams (ADR 25)."""
        self.personal = codec
        self.ids: StreamIds = codec.ids

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """The library would also take a cipher and a compressor from the process environment
        (CIPHER_KEY, and BENEFITPOOL_CIPHER_KEY as this application's own setting); the ledger
        takes the cipher only from `env`, where the composition root puts it (ADR 21), and
        the compressor from the class (ADR 52)."""
        environment = super().construct_env(name, env)
        given = {**dict(env or {}), COMPRESSOR: self.compressor_topic}
        for setting in ("CIPHER_TOPIC", "CIPHER_KEY", COMPRESSOR):
            for variable in environment.create_keys(setting):
                environment.pop(variable, None)
            if setting in given:
                environment[setting] = given[setting]
        return environment

    def construct_recorder(self) -> ApplicationRecorder:
        """On SQLite and PostgreSQL, a recorder that chains every event by a keyed hash
        (ADR 16, ADR 19)."""
        if isinstance(self.factory, SQLiteFactory) or is_postgres(self.factory,
                                                                     "PostgresFactory"):
            # Subclasses (readers, tests) open the same store: the table name is the ledger's.
            return chain.chained_recorder(self.factory, self.audit_key, LedgerApplication.name,
                                          self.chain_format)
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
        transcoder.register(ResultsBlobAsZlib())  # read only: results_json is written
        transcoder.register(ResultsBlobAsJSON())

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

    def log_index(self, upto: int) -> Iterator[tuple[int, str, str]] | None:
        """(log position, originator id as 32 hex digits, topic) of every event up to a
        position, in log order, read from the columns alone (nothing decoded or decrypted);
        None for a store without SQL (the in-memory one)."""
        recorder = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            select = (f"SELECT rowid, originator_id, topic FROM {recorder.events_table_name} "
                      "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?")
        elif is_postgres(recorder, "PostgresApplicationRecorder"):
            table = f"{quoted(recorder.datastore.schema)}.{quoted(recorder.events_table_name)}"
            select = (f"SELECT notification_id, originator_id, topic FROM {table} "
                      "WHERE notification_id > %s AND notification_id <= %s "
                      "ORDER BY notification_id LIMIT %s")
        else:
            return None
        return self._index_pages(select, upto)

    def _index_pages(self, select: str, upto: int, page: int = 50_000
                     ) -> Iterator[tuple[int, str, str]]:
        after = 0
        while after < upto:
            if isinstance(self.recorder, SQLiteApplicationRecorder):
                rows = self._sqlite_rows(select, (after, upto, page))
            else:
                rows = [(p, _uuid(o).hex, t)
                        for p, o, t in self._postgres_rows(select, (after, upto, page))]
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def events_at(self, positions: Sequence[int], page: int = 900
                  ) -> Iterator[tuple[int, Any]] | None:
        """(position, decoded event) of the events at these positions (ascending), read a
        page of positions per query; None for a store without SQL. An event that cannot be
        decoded comes as (position, the MapperDeserialisationError)."""
        recorder = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            select = (f"SELECT rowid, originator_id, originator_version, topic, state FROM "
                      f"{recorder.events_table_name} WHERE rowid IN ")
        elif is_postgres(recorder, "PostgresApplicationRecorder"):
            table = f"{quoted(recorder.datastore.schema)}.{quoted(recorder.events_table_name)}"
            select = (f"SELECT notification_id, originator_id, originator_version, topic, "
                      f"state FROM {table} WHERE notification_id = ANY(%s)")
        else:
            return None
        return self._decoded_pages(select, positions, page)

    def _decoded_pages(self, select: str, positions: Sequence[int], page: int
                       ) -> Iterator[tuple[int, Any]]:
        to_domain_event = self.mapper.to_domain_event
        sqlite = isinstance(self.recorder, SQLiteApplicationRecorder)
        for i in range(0, len(positions), page):
            chunk = list(positions[i:i + page])
            if sqlite:
                rows = self._sqlite_rows(
                    select + f"({','.join('?' * len(chunk))}) ORDER BY rowid", chunk)
            else:
                rows = self._postgres_rows(select + " ORDER BY notification_id", (chunk,))
            for position, oid, version, topic, state in rows:
                try:
                    yield position, to_domain_event(StoredEvent(
                        originator_id=_uuid(oid), originator_version=version, topic=topic,
                        state=bytes(state)))
                except MapperDeserialisationError as e:  # altered outside the ledger
                    yield position, e

    def _sqlite_rows(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(statement, list(params))
            return c.fetchall()

    def _postgres_rows(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        from psycopg.rows import tuple_row

        with self.recorder.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as c:
            c.execute(statement, params)
            return c.fetchall()

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
        if is_postgres(recorder, "PostgresApplicationRecorder"):
            from psycopg.rows import tuple_row

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


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
