"""Tamper evidence: each stream's events chained by a keyed hash, checked by `verify_chain`.

Every stored event gets one row in `event_chain`, written in the same transaction as the event:

    link     = HMAC-SHA256(key, the stream's previous link || canonical(stored event))
    log_link = HMAC-SHA256(key, the log's previous log link || link || notification id)

Both chains start from 32 zero bytes. The stream links catch an event edited, swapped, inserted
or deleted inside its stream; the log links, in notification-id order across the whole log,
catch a deleted last event of a stream or a whole forged stream. The key comes from
BENEFITPOOL_AUDIT_KEY and is never stored: `event_chain_meta` holds only its fingerprint.

The same chain, in the same bytes, is kept on SQLite (`ChainedSQLiteRecorder`) and on
PostgreSQL (`ChainedPostgresRecorder`); both recorders share `_ChainWriter`, and
`verify_chain` reads either store through a `_Reader`. Originator ids enter the links as 32
hex digits on both. See docs/adr/0016-tamper-evident-event-chain.md and
docs/adr/0019-postgresql-store.md.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import struct
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from itertools import islice
from typing import Any
from uuid import UUID

import psycopg
from attrs import field, frozen
from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL as PgSQL
from psycopg.sql import Identifier

from adapters.stores.urls import quoted, schema_lock
from domain.errors import LedgerError, Rejected

AUDIT_KEY_ENV = "BENEFITPOOL_AUDIT_KEY"
# Public on purpose: a chain written with it proves accidental damage only, never tampering.
DEVELOPMENT_KEY = b"benefitpool public development audit key; not a secret"
MIN_KEY_LENGTH = 16
CHAIN_TABLE = "event_chain"
META_TABLE = "event_chain_meta"
CHAIN_FORMAT = "1"
GENESIS = bytes(32)
FIRST_VERSION = 1  # the library's first aggregate version: nothing precedes it in a stream

_HEADER = struct.Struct(">qIII")
_POSITION = struct.Struct(">q")
_PAGE = 10_000
_MAX_SUSPECTS = 10_000  # mismatched events kept for classification
_MAX_PAIRWISE = 200  # mismatched events compared with each other to find swaps
_NO_LIMIT = 2**63 - 1


class ChainError(LedgerError):
    """The event chain cannot be written or read as it is."""


class AuditKeyMismatch(Rejected):
    """The audit key is not the one this database's event chain was written with."""

    def __init__(self, message: str) -> None:
        super().__init__("audit_key_mismatch", message)


# --- the key ----------------------------------------------------------------------------------


def audit_key(value: str = "") -> bytes:
    """The key a BENEFITPOOL_AUDIT_KEY setting gives (its UTF-8 bytes), or the public
    development key when it is empty."""
    if not value:
        return DEVELOPMENT_KEY
    key = value.encode("utf-8")
    if len(key) < MIN_KEY_LENGTH:
        raise ChainError(f"{AUDIT_KEY_ENV} is {len(key)} bytes long; an audit key needs at "
                         f"least {MIN_KEY_LENGTH}")
    return key


def is_keyed(key: bytes) -> bool:
    """False for the public development key: such a chain detects accidents, not tampering."""
    return not hmac.compare_digest(key, DEVELOPMENT_KEY)


def key_fingerprint(key: bytes) -> str:
    """16 hex digits that identify a key without revealing it."""
    return hmac.new(key, b"benefitpool key fingerprint", hashlib.sha256).hexdigest()[:16]


# --- the links ----------------------------------------------------------------------------------


def canonical(originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    """A stored event as bytes, unambiguously: the lengths first, then id, topic and state."""
    oid = originator_id.encode("utf-8")
    top = topic.encode("utf-8")
    return _HEADER.pack(version, len(oid), len(top), len(state)) + oid + top + state


class Mac:
    """HMAC-SHA256 under one key (RFC 2104), for stream links and log links.

    Built from the two padded-key SHA-256 states, copied for each message: the same bytes as
    `hmac.new(key, message, "sha256").digest()`, in about 60% of its time for these short
    messages (the ingest computes two per event).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:  # SHA-256's block size
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def link(self, previous: bytes, originator_id: str, version: int, topic: str,
             state: bytes) -> bytes:
        return self.digest(previous + canonical(originator_id, version, topic, state))

    def log_link(self, previous: bytes, link: bytes, position: int) -> bytes:
        return self.digest(previous + link + _POSITION.pack(position))


# --- the statements ---------------------------------------------------------------------------


@frozen
class _Sql:
    """The chain's statements for one store: its tables, the events table's log position
    (SQLite's rowid, PostgreSQL's notification_id) and the driver's parameter mark. On
    PostgreSQL originator ids are `uuid` columns, passed as hex text with a cast."""

    events: str
    chain: str
    meta: str
    position: str = "rowid"
    p: str = "?"
    uuid: str = ""
    postgres: bool = False

    def __call__(self, template: str) -> str:
        return template.format(events=self.events, chain=self.chain, meta=self.meta,
                               pos=self.position, p=self.p, uuid=self.uuid)

    def create_tables(self) -> list[str]:
        """The chain's tables: one row per event, keyed by its notification id, and the
        meta."""
        oid, number, blob = (("uuid", "bigint", "bytea") if self.postgres
                             else ("TEXT", "INTEGER", "BLOB"))
        return [
            f"CREATE TABLE IF NOT EXISTS {self.chain} (notification_id {number} PRIMARY KEY, "
            f"originator_id {oid} NOT NULL, originator_version {number} NOT NULL, "
            f"link {blob} NOT NULL, log_link {blob} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.meta} (name TEXT PRIMARY KEY, "
            "value TEXT NOT NULL)",
        ]


def _sqlite_sql(events_table: str) -> _Sql:
    return _Sql(events_table, CHAIN_TABLE, META_TABLE)


def _postgres_sql(schema: str, events_table: str) -> _Sql:
    def name(table: str) -> str:
        return f"{quoted(schema)}.{quoted(table)}"

    return _Sql(name(events_table), name(CHAIN_TABLE), name(META_TABLE),
                position="notification_id", p="%s", uuid="::uuid", postgres=True)


# The stream's latest version below a given one, through the events' own (originator_id,
# originator_version) index, and its chain row by the chain's notification id. Written so the
# event is found first: PostgreSQL, given the stream's id on both tables, may otherwise scan
# the whole chain table for it.
_PREVIOUS_LINK = (
    "SELECT e.originator_version, c.link FROM (SELECT {pos} AS pos, originator_id, "
    "originator_version FROM {events} WHERE originator_id={p}{uuid} AND originator_version<{p} "
    "ORDER BY originator_version DESC LIMIT 1) e "
    "JOIN {chain} c ON c.notification_id=e.pos "
    "AND c.originator_id=e.originator_id AND c.originator_version=e.originator_version")
# The stream's latest *chained* version below a given one: needed only when the latest event
# has no chain row (a damaged store).
_PREVIOUS_CHAINED_LINK = (
    "SELECT e.originator_version, c.link FROM {events} e "
    "JOIN {chain} c ON c.notification_id=e.{pos} "
    "AND c.originator_id=e.originator_id AND c.originator_version=e.originator_version "
    "WHERE e.originator_id={p}{uuid} AND e.originator_version<{p} "
    "ORDER BY e.originator_version DESC LIMIT 1")
_PREVIOUS_LOG_LINK = ("SELECT log_link FROM {chain} WHERE notification_id<{p} "
                      "ORDER BY notification_id DESC LIMIT 1")
_INSERT_LINKS = "INSERT INTO {chain} VALUES ({p},{p}{uuid},{p},{p},{p})"


# --- reading the store ------------------------------------------------------------------------


class _Reader(ABC):
    """Reads the events and the chain through one connection, inside its transaction, as
    plain tuples: originator ids as hex text, state and links as bytes, on either store."""

    def __init__(self, sql: _Sql) -> None:
        self.sql = sql

    @abstractmethod
    def stream(self, template: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """A large result, a page at a time."""

    def all(self, template: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.stream(template, params))

    def one(self, template: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        found = self.all(template, params)
        return found[0] if found else None

    @abstractmethod
    def has_chain(self) -> bool:
        """Whether both of the chain's tables exist."""


class _SQLiteReader(_Reader):
    def __init__(self, db: sqlite3.Connection, sql: _Sql) -> None:
        super().__init__(sql)
        self.db = db

    def stream(self, template: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        cur = self.db.cursor()
        cur.row_factory = None
        cur.execute(self.sql(template), tuple(params))
        while page := cur.fetchmany(_PAGE):
            yield from page

    def has_chain(self) -> bool:
        return len(self.all("SELECT name FROM sqlite_master WHERE type='table' AND name IN "
                            "({p},{p})", (CHAIN_TABLE, META_TABLE))) == 2


class _PostgresReader(_Reader):
    def __init__(self, conn: Any, sql: _Sql) -> None:
        super().__init__(sql)
        self.conn = conn
        self.cursors = 0

    def stream(self, template: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        self.cursors += 1  # a server-side cursor: the rows come a page at a time
        with self.conn.cursor(name=f"benefitpool_chain_{self.cursors}",
                              row_factory=tuple_row) as cur:
            cur.execute(self.sql(template), tuple(params))
            while page := cur.fetchmany(_PAGE):
                yield from map(_plain, page)

    def all(self, template: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(self.sql(template), tuple(params))
            return [_plain(r) for r in cur.fetchall()]

    def has_chain(self) -> bool:
        found = self.one("SELECT to_regclass({p}), to_regclass({p})",
                         (self.sql.chain, self.sql.meta))
        return found is not None and None not in found


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A PostgreSQL row as SQLite gives it: originator ids as hex text."""
    return tuple(v.hex if type(v) is UUID else v for v in row)


# --- the recorders ----------------------------------------------------------------------------


class _ChainWriter(ABC):
    """What both chained recorders share: the links of one transaction's events, the key
    check, the adoption of events older than the chain, and the cache of streams' last links.

    The last (version, link) of recently written streams is cached after each commit; a cached
    link is used only when its version is the one just below the new event's, so another
    writer of the same store can never make it wrong (versions are unique per stream). The
    previous log link is read inside the transaction, one query per transaction, after the
    events were inserted: the insert holds the store's write lock (SQLite's database lock,
    PostgreSQL's table lock), so nothing can change it before the commit.
    """

    def _setup_chain(self, key: bytes, sql: _Sql, cache_size: int) -> None:
        self._mac = Mac(key)
        self._keyed = is_keyed(key)
        self._fingerprint = key_fingerprint(key)
        self._key_checked = False
        self._cache_size = cache_size
        self._last: dict[str, tuple[int, bytes]] = {}
        self._topics: dict[str, bytes] = {}
        self._sql = sql
        self._select_previous_link = sql(_PREVIOUS_LINK)
        self._select_previous_chained_link = sql(_PREVIOUS_CHAINED_LINK)
        self._select_previous_log_link = sql(_PREVIOUS_LOG_LINK)

    @abstractmethod
    def _reader(self, c: Any) -> _Reader:
        """A reader on the connection of the transaction `c` belongs to."""

    @abstractmethod
    def _write_links(self, c: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert chain rows; ChainError if a position already has one."""

    def _committed(self, written: dict[str, tuple[int, bytes]]) -> None:
        """Only after the commit may the caches believe what was written."""
        self._key_checked = True
        self._remember(written)

    def _link(self, c: Any, events: list[tuple[str, int, str, bytes, int]],
              known: dict[str, tuple[int, bytes]] | None = None,
              last_log: tuple[int, bytes] | None | bool = False
              ) -> dict[str, tuple[int, bytes]]:
        """Write the chain rows of the events (hex id, version, topic, state, notification
        id) just inserted in the transaction `c`; returns the streams' new last links.

        `known` holds streams' latest (version, link) and `last_log` the log's latest
        (notification id, log link), or None for an empty chain, when the caller read them
        under the write lock before inserting (False: not read, read them here)."""
        first = min(e[4] for e in events)
        if not self._key_checked:
            self._check_key(c, first)
            last_log = False  # events older than the chain may just have been adopted
        if last_log is False or (last_log is not None and last_log[0] >= first):
            c.execute(self._select_previous_log_link, (first,))
            found = c.fetchone()
            log_link = found[0] if found is not None else GENESIS
        else:
            log_link = last_log[1] if last_log is not None else GENESIS
        chained = self._chain(c, events, log_link, known or {})
        if chained is None:  # versions or positions out of order: link them sorted
            chained = self._chain_sorted(c, events, log_link)
        rows, written = chained
        self._write_links(c, rows)
        return written

    def _chain(self, c: Any, events: list[tuple[str, int, str, bytes, int]],
               log_link: bytes, known: dict[str, tuple[int, bytes]]
               ) -> tuple[list[tuple[Any, ...]], dict[str, tuple[int, bytes]]] | None:
        """Chain rows for events in notification order whose streams' versions ascend;
        None if they do not. (`Mac.link` and `Mac.log_link`, inlined: this runs per event.)"""
        inner, outer = self._mac._inner.copy, self._mac._outer.copy
        header = _HEADER.pack
        pack_position = _POSITION.pack
        join = b"".join
        topics = self._topics
        last = self._last
        batch: dict[str, tuple[int, bytes]] = {}
        rows = []
        position = 0
        for oid, version, topic, state, nid in events:
            if nid <= position:
                return None
            position = nid
            got = batch.get(oid)
            if got is not None:
                if got[0] == version - 1:
                    previous = got[1]
                elif got[0] >= version:
                    return None
                else:
                    previous = self._previous_link(c, oid, version, got)
            elif version == FIRST_VERSION:
                previous = GENESIS
            else:
                cached = last.get(oid)
                if cached is None or cached[0] != version - 1:
                    cached = known.get(oid)
                previous = (cached[1] if cached is not None and cached[0] == version - 1
                            else self._previous_link(c, oid, version, None))
            o = oid.encode("utf-8")
            t = topics.get(topic)
            if t is None:
                t = topics[topic] = topic.encode("utf-8")
            h = inner()
            h.update(join((previous, header(version, len(o), len(t), len(state)), o, t, state)))
            m = outer()
            m.update(h.digest())
            link = m.digest()
            h = inner()
            h.update(join((log_link, link, pack_position(nid))))
            m = outer()
            m.update(h.digest())
            log_link = m.digest()
            batch[oid] = (version, link)
            rows.append((nid, oid, version, link, log_link))
        return rows, batch

    def _chain_sorted(self, c: Any, events: list[tuple[str, int, str, bytes, int]],
                      log_link: bytes
                      ) -> tuple[list[tuple[Any, ...]], dict[str, tuple[int, bytes]]]:
        mac = self._mac
        batch: dict[str, tuple[int, bytes]] = {}
        links: dict[int, tuple[str, int, bytes]] = {}
        for oid, version, topic, state, nid in sorted(events, key=lambda e: (e[0], e[1])):
            got = batch.get(oid)
            if got is not None and got[0] >= version:
                raise ChainError(f"stream {oid} has two events at version {version}")
            previous = (got[1] if got is not None and got[0] == version - 1
                        else self._previous_link(c, oid, version, got))
            link = mac.link(previous, oid, version, topic, state)
            batch[oid] = (version, link)
            links[nid] = (oid, version, link)
        rows = []
        for nid in sorted(links):
            oid, version, link = links[nid]
            log_link = mac.log_link(log_link, link, nid)
            rows.append((nid, oid, version, link, log_link))
        return rows, batch

    def _previous_link(self, c: Any, oid: str, version: int,
                       in_batch: tuple[int, bytes] | None) -> bytes:
        """The link of the stream's greatest version below `version`, or the genesis."""
        if in_batch is None:
            cached = self._last.get(oid)
            if cached is not None and cached[0] == version - 1:
                return cached[1]
            if version <= FIRST_VERSION:
                return GENESIS
        c.execute(self._select_previous_link, (oid, version))
        found = c.fetchone()
        if found is None:
            c.execute(self._select_previous_chained_link, (oid, version))
            found = c.fetchone()
        if found is not None and (in_batch is None or found[0] > in_batch[0]):
            return found[1]
        return in_batch[1] if in_batch is not None else GENESIS

    def _uncached_streams(self, events: Iterable[tuple[str, int]]) -> list[str]:
        """The streams (hex ids) whose first event here continues a stream whose previous
        link is not in the cache."""
        seen: set[str] = set()
        wanted = []
        last = self._last
        for oid, version in events:
            if oid in seen:
                continue
            seen.add(oid)
            if version > FIRST_VERSION:
                cached = last.get(oid)
                if cached is None or cached[0] != version - 1:
                    wanted.append(oid)
        return wanted

    def _remember(self, written: dict[str, tuple[int, bytes]]) -> None:
        last = self._last
        for oid, entry in written.items():
            known = last.get(oid)
            if known is None or known[0] < entry[0]:
                last[oid] = entry
        excess = len(last) - self._cache_size
        if excess > 0:
            for oid in list(islice(last, excess + self._cache_size // 10)):
                del last[oid]

    def _check_key(self, c: Any, first_new: int) -> None:
        """Refuse a key whose fingerprint differs from the stored one; on the first write,
        store the fingerprint and chain any events recorded before the chain existed."""
        sql = self._sql
        c.execute(sql("SELECT value FROM {meta} WHERE name='key_fingerprint'"))
        found = c.fetchone()
        if found is not None:
            if found[0] != self._fingerprint:
                c.execute(sql("SELECT value FROM {meta} WHERE name='keyed'"))
                keyed = c.fetchone()
                raise AuditKeyMismatch(_mismatch_message(
                    found[0], self._fingerprint, keyed is not None and keyed[0] == "yes",
                    self._keyed))
            return
        c.execute(sql("SELECT 1 FROM {chain} LIMIT 1"))
        if c.fetchone() is not None:
            raise ChainError(f"{META_TABLE} has lost the audit key fingerprint while "
                             f"{CHAIN_TABLE} holds links; nothing was recorded (run the chain "
                             "verification before writing again)")
        adopted = _adopt(c, self._reader(c), self._mac, first_new)
        c.executemany(sql("INSERT INTO {meta} VALUES ({p},{p})"), [
            ("format", CHAIN_FORMAT), ("key_fingerprint", self._fingerprint),
            ("keyed", "yes" if self._keyed else "no"), ("adopted_upto", str(adopted))])


class ChainedSQLiteRecorder(_ChainWriter, SQLiteApplicationRecorder):
    """The library's SQLite application recorder, writing each event's links in the same
    transaction as the event."""

    def __init__(self, datastore: SQLiteDatastore, key: bytes,
                 events_table_name: str = "stored_events", cache_size: int = 200_000) -> None:
        self._setup_chain(key, _sqlite_sql(events_table_name), cache_size)
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self._sql.create_tables()]

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.transaction(commit=True) as c:
            ids, written = self._insert_chained(c, stored_events)
        self._committed(written)
        return ids

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        return self._insert_chained(c, stored_events)[0]

    def _insert_chained(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]
                        ) -> tuple[Sequence[int], dict[str, tuple[int, bytes]]]:
        if not stored_events:
            return [], {}
        # The events first, as the library's recorder inserts them (one statement each, for
        # the notification id). The first insert takes SQLite's write lock.
        cur = c.sqlite_cursor
        insert = self.insert_events_statement
        events = []
        for s in stored_events:
            oid = s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id
            cur.execute(insert, (oid, s.originator_version, s.topic, s.state))
            events.append((oid, s.originator_version, s.topic, s.state, cur.lastrowid))
        return [e[4] for e in events], self._link(c, events)

    def _reader(self, c: SQLiteCursor) -> _Reader:
        return _SQLiteReader(c.sqlite_cursor.connection, self._sql)

    def _write_links(self, c: SQLiteCursor, rows: list[tuple[Any, ...]]) -> None:
        try:
            c.sqlite_cursor.executemany(self._sql(_INSERT_LINKS), rows)
        except sqlite3.IntegrityError as e:
            raise _altered() from e


class ChainedPostgresRecorder(_ChainWriter, PostgresApplicationRecorder):
    """The library's PostgreSQL application recorder, writing each event's links in the same
    transaction as the event. The events are inserted as the library does (one statement,
    after `LOCK TABLE … IN EXCLUSIVE MODE`, which serialises the writers of the log), then
    linked. The schema is created if missing."""

    def __init__(self, datastore: PostgresDatastore, key: bytes, *,
                 events_table_name: str = "stored_events", cache_size: int = 200_000) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        sql = _postgres_sql(datastore.schema, events_table_name)
        self._setup_chain(key, sql, cache_size)
        self.sql_create_statements.extend(PgSQL(s) for s in sql.create_tables())
        self._insert_returning = PgSQL(
            "INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state "
            "FROM unnest(%b::{schema}.{kind}[]) "
            "RETURNING originator_id, originator_version, notification_id").format(
            events=PgSQL(sql.events), schema=Identifier(datastore.schema),
            kind=Identifier(self.stored_event_type_name))
        # Each stream's latest event, then its chain row (a stream whose latest event has
        # none is left out: `_previous_link` deals with it)
        self._select_latest_links = sql(
            "SELECT e.originator_id, e.originator_version, c.link "
            "FROM unnest(%s::uuid[]) AS w(id) CROSS JOIN LATERAL ("
            "SELECT originator_id, originator_version, notification_id FROM {events} "
            "WHERE originator_id=w.id ORDER BY originator_version DESC LIMIT 1) e "
            "JOIN {chain} c ON c.notification_id=e.notification_id "
            "AND c.originator_id=e.originator_id AND c.originator_version=e.originator_version")
        self._select_last_log_link = sql(
            "SELECT notification_id, log_link FROM {chain} ORDER BY notification_id DESC "
            "LIMIT 1")
        self._insert_links = sql(
            "INSERT INTO {chain} (notification_id, originator_id, originator_version, link, "
            "log_link) SELECT * FROM unnest(%b::bigint[], %b::uuid[], %b::bigint[], "
            "%b::bytea[], %b::bytea[])")

    def create_table(self) -> None:
        schema = self.datastore.schema
        with self.datastore.get_connection() as conn, schema_lock(conn.execute, schema):
            found = conn.execute("SELECT to_regnamespace(%s) AS oid", (quoted(schema),))
            if found.fetchone()["oid"] is None:
                conn.execute(PgSQL("CREATE SCHEMA {}").format(Identifier(schema)))
            super().create_table()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        """Two round trips in pipeline mode: (lock, notify, the uncached streams' latest
        links, the log's latest link, the insert), then (the chain rows, commit)."""
        if not stored_events:
            return []
        rows = [(s.originator_id if isinstance(s.originator_id, UUID)
                 else UUID(s.originator_id), s.originator_version, s.topic, s.state)
                for s in stored_events]
        # The first write checks the key and may adopt older events, reading a page at a
        # time through server-side cursors, which pipeline mode does not offer.
        pipelined = self._key_checked
        wanted = (self._uncached_streams((oid.hex, version) for oid, version, _, _ in rows)
                  if pipelined else [])
        with self.datastore.get_connection() as conn, \
                conn.pipeline() if pipelined else nullcontext() as pipeline, \
                conn.transaction(), conn.cursor(row_factory=tuple_row) as c, \
                conn.cursor(row_factory=tuple_row) as streams, \
                conn.cursor(row_factory=tuple_row) as log, \
                conn.cursor(row_factory=tuple_row) as inserted:
            self._lock_table(c)
            self._notify_channel(c)
            if wanted:  # read under the lock: nobody can extend these streams meanwhile
                streams.execute(self._select_latest_links, ([UUID(w) for w in wanted],))
            if pipelined:
                log.execute(self._select_last_log_link)
            inserted.execute(self._insert_returning, ([self.construct_pg_stored_event(
                oid, version, topic, state) for oid, version, topic, state in rows],))
            if pipeline is not None:
                pipeline.sync()
            positions = {(oid, version): nid for oid, version, nid in inserted.fetchall()}
            events = [(oid.hex, version, topic, state, positions[(oid, version)])
                      for oid, version, topic, state in rows]
            known = ({oid.hex: (version, bytes(link))
                      for oid, version, link in streams.fetchall()} if wanted else {})
            last_log: tuple[int, bytes] | None | bool = False
            if pipelined:
                found = log.fetchone()
                last_log = (found[0], bytes(found[1])) if found is not None else None
            written = self._link(c, events, known, last_log)
        self._committed(written)
        return [e[4] for e in events]

    def _reader(self, c: Any) -> _Reader:
        return _PostgresReader(c.connection, self._sql)

    def _write_links(self, c: Any, rows: list[tuple[Any, ...]]) -> None:
        try:
            c.execute(self._insert_links, [list(column) for column in zip(*rows, strict=True)])
        except psycopg.IntegrityError as e:
            raise _altered() from e


def _altered() -> ChainError:
    return ChainError(
        "a position about to be recorded already has a chain link: this database has been "
        "altered; nothing was recorded (run the chain verification to locate the damage)")


def chained_recorder(factory: Any, key: bytes, application: str) -> ApplicationRecorder:
    """The application recorder for a SQLite or PostgreSQL store, its tables created if the
    store does. The events table is named as the library names it: `stored_events` on
    SQLite, `<application>_events` on PostgreSQL."""
    if isinstance(factory, SQLiteFactory):
        recorder: Any = ChainedSQLiteRecorder(factory.datastore, key)
    elif isinstance(factory, PostgresFactory):
        recorder = ChainedPostgresRecorder(factory.datastore, key,
                                           events_table_name=f"{application.lower()}_events")
    else:
        raise ChainError("the event chain is kept for SQLite and PostgreSQL stores only")
    if factory.env_create_table():
        recorder.create_table()
    return recorder


def _mismatch_message(stored: str, given: str, stored_keyed: bool, given_keyed: bool) -> str:
    if not stored_keyed:
        return ("this database's event chain was written without an audit key (the public "
                f"development key); {AUDIT_KEY_ENV} is set, so nothing was recorded: unset it "
                "to write here")
    if not given_keyed:
        return (f"this database's event chain is keyed (fingerprint {stored}) and "
                f"{AUDIT_KEY_ENV} is not set; nothing was recorded")
    return (f"{AUDIT_KEY_ENV} (fingerprint {given}) is not the key this database's event "
            f"chain was written with (fingerprint {stored}); nothing was recorded")


def _adopt(c: Any, reader: _Reader, mac: Mac, below: int) -> int:
    """Chain the events recorded before the chain existed (notification ids below `below`);
    returns the last such id, 0 if there were none."""
    found = reader.one("SELECT MAX(e.{pos}) FROM {events} e WHERE e.{pos}<{p}", (below,))
    last = found[0] if found else None
    if not last:
        return 0
    insert = reader.sql(_INSERT_LINKS)
    stream, link = None, GENESIS
    rows: list[tuple[Any, ...]] = []
    for oid, version, topic, state, nid in reader.stream(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state, e.{pos} FROM "
            "{events} e WHERE e.{pos}<{p} ORDER BY e.originator_id, e.originator_version",
            (below,)):
        if oid != stream:
            stream, link = oid, GENESIS
        link = mac.link(link, oid, version, topic, state)
        rows.append((nid, oid, version, link, GENESIS))
        if len(rows) >= _PAGE:
            c.executemany(insert, rows)
            rows = []
    if rows:
        c.executemany(insert, rows)
    log_link, after = GENESIS, 0
    while True:
        page = reader.all("SELECT notification_id, link FROM {chain} WHERE notification_id>{p} "
                          "ORDER BY notification_id LIMIT {p}", (after, _PAGE))
        if not page:
            return int(last)
        updates = []
        for nid, link in page:
            log_link = mac.log_link(log_link, link, nid)
            updates.append((log_link, nid))
        c.executemany(reader.sql("UPDATE {chain} SET log_link={p} WHERE notification_id={p}"),
                      updates)
        after = page[-1][0]


# --- verification -------------------------------------------------------------------------------


@frozen
class Seal:
    """The log's last position and its log link: kept outside the database, it proves later
    that nothing up to that position was removed or rewritten."""

    position: int
    log_link: str  # hex


@frozen
class ChainProblem:
    """One finding of `verify_chain`, located as precisely as the evidence allows."""

    kind: str  # edited deleted inserted reordered missing_link wrong_key fingerprint
    originator_id: str | None
    version: int | None
    position: int | None
    message: str


@frozen
class ChainReport:
    """What `verify_chain` checked and found."""

    events_checked: int
    streams_checked: int
    links_checked: int
    keyed: bool
    seal: Seal | None
    problems: tuple[ChainProblem, ...]
    problem_count: int  # all problems; `problems` holds at most `max_problems` of them
    upto: int | None = None
    adopted_upto: int = 0
    notes: tuple[str, ...] = field(factory=tuple)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "keyed": self.keyed, "events_checked": self.events_checked,
            "streams_checked": self.streams_checked, "links_checked": self.links_checked,
            "upto": self.upto, "adopted_upto": self.adopted_upto,
            "seal": None if self.seal is None else {"position": self.seal.position,
                                                    "log_link": self.seal.log_link},
            "problem_count": self.problem_count,
            "problems": [{"kind": p.kind, "originator_id": p.originator_id,
                          "version": p.version, "position": p.position, "message": p.message}
                         for p in self.problems],
            "notes": list(self.notes),
        }


class _Problems:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[ChainProblem] = []
        self.count = 0
        self.located: set[tuple[str, int]] = set()

    def add(self, kind: str, oid: str | None, version: int | None, position: int | None,
            message: str) -> None:
        self.count += 1
        if oid is not None and version is not None and len(self.located) < 1_000_000:
            self.located.add((oid, version))
        if len(self.items) < self.limit:
            self.items.append(ChainProblem(kind, oid, version, position, message))


@frozen
class _LogBreak:
    position: int
    previous: int  # the preceding chain row's position, 0 at the start
    oid: str
    version: int


@frozen
class _Suspect:
    """An event whose content does not give its chain row's link."""

    oid: str
    version: int
    position: int
    topic: str
    state: bytes
    previous: bytes
    link: bytes
    forged: bool  # its chain row does not fit the log either
    last: bool  # the stream's last version


def verify_chain(app_or_recorder: Any, key: bytes, upto: int | None = None, *,
                 expected_seal: Seal | None = None, max_problems: int = 1000) -> ChainReport:
    """Check every stream in version order and the log in notification order (only positions
    up to `upto` when given); every difference from the keyed chain becomes a located problem.

    `expected_seal`, a seal kept outside the database, also catches a removed tail of the log.
    Reads in one transaction (a snapshot), a page at a time, on SQLite or PostgreSQL.
    """
    recorder = getattr(app_or_recorder, "recorder", app_or_recorder)
    with _chain_reader(recorder) as reader:
        return _verify(reader, key, upto, expected_seal, max_problems)


@contextmanager
def _chain_reader(recorder: Any) -> Iterator[_Reader]:
    """A reader of the recorder's store, in one read-only transaction."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.get_connection(commit=False) as conn, \
                conn.transaction(commit=False) as c:
            yield _SQLiteReader(c.sqlite_cursor.connection,
                                _sqlite_sql(recorder.events_table_name))
    elif isinstance(recorder, PostgresApplicationRecorder):
        with recorder.datastore.get_connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield _PostgresReader(conn, _postgres_sql(recorder.datastore.schema,
                                                      recorder.events_table_name))
    else:
        raise ChainError("the event chain is kept for SQLite and PostgreSQL stores only")


def _verify(reader: _Reader, key: bytes, upto: int | None, expected_seal: Seal | None,
            max_problems: int) -> ChainReport:
    mac = Mac(key)
    limit = _NO_LIMIT if upto is None else upto
    problems = _Problems(max_problems)
    notes: list[str] = []
    if not is_keyed(key):
        notes.append("the chain is checked with the public development key: it detects "
                     "accidental damage, not deliberate tampering (set "
                     f"{AUDIT_KEY_ENV} when the ledger is written)")
    if not reader.has_chain():
        raise ChainError(f"this database has no event chain ({CHAIN_TABLE}): it was never "
                         "written by the ledger")
    meta = dict(reader.all("SELECT name, value FROM {meta}"))
    adopted = int(meta.get("adopted_upto", "0") or 0)
    if adopted:
        notes.append(f"events up to position {adopted} were recorded before the chain "
                     "existed and were chained when it was introduced: the chain vouches "
                     "for them only from then on")
    stored_fp = meta.get("key_fingerprint")
    has_links, has_events = reader.one("SELECT EXISTS (SELECT 1 FROM {chain}), EXISTS "
                                       "(SELECT 1 FROM {events} e WHERE e.{pos}<={p})",
                                       (limit,)) or (False, False)
    if not has_links and has_events:
        n_events = reader.one("SELECT COUNT(*) FROM {events} e WHERE e.{pos}<={p}",
                              (limit,))[0]
        problems.add("missing_link", None, None, None, (
            f"none of the {n_events} events has a chain link: the chain was removed, or "
            "the database predates it and has not been written to by the ledger since"))
        return ChainReport(0, 0, 0, is_keyed(key), None, tuple(problems.items),
                           problems.count, upto, adopted, tuple(notes))
    if stored_fp != key_fingerprint(key):
        verdict = _probe_key(reader, mac)
        if verdict is False or (verdict is None and stored_fp is not None):
            problems.add("wrong_key", None, None, None, (
                f"the key given (fingerprint {key_fingerprint(key)}) is not the key this "
                f"chain was written with (fingerprint {stored_fp or 'missing'}); no link "
                "was checked"))
            return ChainReport(0, 0, 0, is_keyed(key), None, tuple(problems.items),
                               problems.count, upto, adopted, tuple(notes))
        if verdict is True:
            problems.add("fingerprint", None, None, None, (
                f"{META_TABLE} holds the key fingerprint {stored_fp or '(none)'} but the "
                "links verify under this key: the fingerprint was altered"))
    log = _walk_log(reader, mac, limit, problems)
    suspects, unlinked, counts = _walk_streams(reader, mac, limit, log, problems)
    _classify(suspects, mac, problems)
    _report_breaks(log.breaks, problems, unlinked)
    if expected_seal is not None:
        _check_seal(reader, expected_seal, problems)
    else:
        notes.append("without a seal kept outside the database, the removal of the "
                     "log's very last events cannot be told apart from a shorter log: "
                     "keep this report's seal, and check against it next time")
    events_checked, streams_checked = counts
    ordered = sorted(problems.items, key=lambda p: (p.position is None, p.position or 0,
                                                     p.originator_id or "", p.version or 0))
    return ChainReport(events_checked, streams_checked, log.count, is_keyed(key), log.seal,
                       tuple(ordered), problems.count, upto, adopted, tuple(notes))


def _probe_key(reader: _Reader, mac: Mac) -> bool | None:
    """Whether a few log links verify under this key; None if the chain is empty."""
    select = ("SELECT notification_id, link, log_link FROM {chain} "
              "ORDER BY notification_id {order} LIMIT 6")
    rows = reader.all(select.replace("{order}", "ASC"))
    if not rows:
        return None
    tail = reader.all(select.replace("{order}", "DESC"))[::-1]
    if rows[0][2] == mac.log_link(GENESIS, rows[0][1], rows[0][0]):
        return True
    for group in (rows, tail):
        for before, after in zip(group, group[1:], strict=False):
            if after[2] == mac.log_link(before[2], after[1], after[0]):
                return True
    return False


class _Log:
    """What the walk through the log found."""

    def __init__(self) -> None:
        self.breaks: list[_LogBreak] = []
        self.broken: set[tuple[str, int]] = set()  # chain rows whose log link is wrong
        self.gaps: list[tuple[int, int]] = []  # positions missing from the chain
        self.elsewhere: dict[tuple[str, int], tuple[int, bytes]] = {}  # not at their event
        self.seal: Seal | None = None
        self.count = 0


def _walk_log(reader: _Reader, mac: Mac, limit: int, problems: _Problems) -> _Log:
    """Check every log link against its predecessor's stored log link, and note the chain
    rows whose position does not hold their event."""
    rows = reader.stream(
        "SELECT c.notification_id, c.originator_id, c.originator_version, c.link, "
        "c.log_link, e.originator_id, e.originator_version FROM {chain} c "
        "LEFT JOIN {events} e ON e.{pos}=c.notification_id "
        "WHERE c.notification_id<={p} ORDER BY c.notification_id", (limit,))
    log = _Log()
    previous_position, previous_log = 0, GENESIS
    log_link_of = mac.log_link
    for nid, oid, version, link, log_link, event_oid, event_version in rows:
        log.count += 1
        if nid > previous_position + 1:
            log.gaps.append((previous_position + 1, nid - 1))
        if not (type(oid) is str and type(version) is int and type(link) is bytes
                and type(log_link) is bytes):
            problems.add("edited", str(oid), version if type(version) is int else None, nid,
                         f"the chain row at position {nid} has a column of the wrong type: it "
                         "was altered outside the ledger")
            previous_position, previous_log = nid, b""
            continue
        if log_link != log_link_of(previous_log, link, nid) and len(log.breaks) < _MAX_SUSPECTS:
            log.breaks.append(_LogBreak(nid, previous_position, oid, version))
            log.broken.add((oid, version))
        if (event_oid != oid or event_version != version) and len(log.elsewhere) < 1_000_000:
            log.elsewhere[(oid, version)] = (nid, link)
        previous_position, previous_log = nid, log_link
        log.seal = Seal(nid, log_link.hex())
    return log


def _walk_streams(reader: _Reader, mac: Mac, limit: int, log: _Log, problems: _Problems
                  ) -> tuple[list[_Suspect], set[int], tuple[int, int]]:
    """Walk the events in (stream, version) order, each with the chain row at its position,
    and check each event's stream link from its predecessor's stored link."""
    rows = reader.stream(
        "SELECT e.originator_id, e.originator_version, e.{pos}, e.topic, e.state, "
        "c.originator_id, c.originator_version, c.link FROM {events} e "
        "LEFT JOIN {chain} c ON c.notification_id=e.{pos} WHERE e.{pos}<={p} "
        "ORDER BY e.originator_id, e.originator_version", (limit,))
    walk = _StreamWalk(mac, log.broken, log.gaps, problems)
    elsewhere = ((oid, version, None, row) for (oid, version), row in sorted(
        log.elsewhere.items()))
    for oid, version, event, link_row in _merged(_events(rows, problems), elsewhere, problems):
        walk.step(oid, version, event, link_row)
    walk.end_stream()
    return walk.suspects, walk.unlinked, (walk.n_events, walk.n_streams)


class _StreamWalk:
    """The state of the walk through one stream after another."""

    def __init__(self, mac: Mac, broken: set[tuple[str, int]], gaps: list[tuple[int, int]],
                 problems: _Problems) -> None:
        self.mac = mac
        self.broken = broken
        self.gaps = gaps
        self.problems = problems
        self.suspects: list[_Suspect] = []
        self.unlinked: set[int] = set()
        self.n_events = self.n_streams = 0
        self.stream: str | None = None
        self.previous = GENESIS  # the stored link of the stream's last chain row so far
        self.version = 0  # the stream's last version so far
        self.through = GENESIS  # the link as if the pending events had been chained
        self.pending: list[tuple[str, int, int]] = []  # events without a chain row
        self.stream_suspects: list[int] = []
        self.after_deletion = False

    def step(self, oid: str, version: int, event: tuple[int, str, bytes] | None,
             link_row: tuple[int, bytes] | None) -> None:
        problems = self.problems
        if oid != self.stream:
            if self.stream is not None:
                self.end_stream()
            self.stream, self.previous, self.through, self.version = oid, GENESIS, GENESIS, 0
            self.n_streams += 1
        if version > self.version + 1:
            first, last = self.version + 1, version - 1
            missing = f"version {first}" if first == last else f"versions {first}-{last}"
            problems.add("deleted", oid, first, None,
                         f"stream {oid} has no {missing} (deleted with its chain link"
                         f"{'s' if last > first else ''}), so version {version} cannot be "
                         "checked either")
            self.after_deletion = True
        self.version = version
        if event is None:  # a chain row without its event
            problems.add("deleted", oid, version, link_row[0] if link_row else None,
                         f"{_where(oid, version, link_row[0] if link_row else None)} was "
                         "deleted; its chain link remains")
            self.settle_pending(False)
            if link_row is not None:
                self.previous = self.through = link_row[1]
            self.after_deletion = False
            return
        self.n_events += 1
        position, topic, state = event
        if topic is None:  # malformed, already reported: its link still serves the next
            self.settle_pending(False)
            if link_row is not None:
                self.previous = self.through = link_row[1]
            self.after_deletion = False
            return
        mac = self.mac
        if link_row is None:
            self.pending.append((oid, version, position))
            self.through = mac.link(self.through, oid, version, topic, state)
            return
        chained_at, link = link_row
        if chained_at != position:
            problems.add("reordered", oid, version, position,
                         f"{_where(oid, version, position)} is chained at position "
                         f"{chained_at}: the log was renumbered")
        if link == mac.link(self.previous, oid, version, topic, state):
            self.settle_pending(False)
        elif self.pending and link == mac.link(self.through, oid, version, topic, state):
            self.settle_pending(True)
        elif self.after_deletion:
            self.settle_pending(False)  # explained by the deletion just reported
        elif len(self.suspects) < _MAX_SUSPECTS:
            self.settle_pending(False)
            self.stream_suspects.append(len(self.suspects))
            self.suspects.append(_Suspect(oid, version, position, topic, state, self.previous,
                                          link, (oid, version) in self.broken, False))
        else:
            self.settle_pending(False)
            problems.add("edited", oid, version, position,
                         f"{_where(oid, version, position)} does not match its chain link")
        self.previous = self.through = link
        self.after_deletion = False

    def settle_pending(self, verified_through: bool) -> None:
        """Events without a chain row: genuine if the next link verifies through them or
        their position is missing from the log, inserted otherwise."""
        for oid, version, position in self.pending:
            self.unlinked.add(position)
            where = _where(oid, version, position)
            if verified_through or _in_gaps(position, self.gaps):
                self.problems.add("missing_link", oid, version, position,
                                  f"{where} has lost its chain link; the event itself fits "
                                  "the chain")
            else:
                self.problems.add("inserted", oid, version, position,
                                  f"{where} has no chain link: it was inserted behind the "
                                  "ledger's back")
        self.pending.clear()

    def end_stream(self) -> None:
        """Settle the stream's last unlinked events; a run of forged links that ends the
        stream is a forged tail (inserted events)."""
        self.settle_pending(False)
        expected = self.version
        for i in reversed(self.stream_suspects):
            s = self.suspects[i]
            if s.version != expected or not s.forged:
                break
            self.suspects[i] = _Suspect(s.oid, s.version, s.position, s.topic, s.state,
                                        s.previous, s.link, s.forged, True)
            expected -= 1
        self.stream_suspects.clear()


def _events(rows: Iterable[tuple[Any, ...]], problems: _Problems) -> Iterator[tuple[Any, ...]]:
    """(stream, version, (position, topic, state), (position, link) or None) for each event
    whose columns have the stored types; the others are reported and skipped."""
    for oid, version, position, topic, state, chain_oid, chain_version, link in rows:
        placed = type(oid) is str and type(version) is int
        if not (placed and type(topic) is str and type(state) is bytes):
            problems.add("edited", str(oid), version if type(version) is int else None,
                         position, f"the event at position {position} has a column of the "
                         "wrong type: it was altered outside the ledger")
            if not placed:
                continue
            topic, state = None, b""  # in its place in the stream, but not checkable
        here = (position, link) if (chain_oid == oid and chain_version == version
                                    and type(link) is bytes) else None
        yield oid, version, (position, topic, state), here


def _merged(events: Iterator[tuple[Any, ...]], elsewhere: Iterator[tuple[Any, ...]],
            problems: _Problems) -> Iterator[tuple[Any, ...]]:
    """The events merged with the chain rows found away from their event, in (stream,
    version) order: a row away from its event serves the event it names."""
    e = next(events, None)
    k = next(elsewhere, None)
    while e is not None or k is not None:
        if e is not None and (k is None or (e[0], e[1]) < (k[0], k[1])):
            yield e
            e = next(events, None)
        elif k is not None and (e is None or (k[0], k[1]) < (e[0], e[1])):
            yield k
            k = next(elsewhere, None)
        elif e is not None and k is not None:
            if e[3] is None:
                yield e[0], e[1], e[2], k[3]
            else:
                problems.add("inserted", e[0], e[1], k[3][0],
                             f"{_where(e[0], e[1], e[2][0])} has a second chain link at "
                             f"position {k[3][0]}: it was added behind the ledger's back")
                yield e
            e = next(events, None)
            k = next(elsewhere, None)


def _classify(suspects: list[_Suspect], mac: Mac, problems: _Problems) -> None:
    """Events whose content does not give their link: swapped, forged or edited."""
    fits: dict[int, _Suspect] = {}
    pairwise = suspects[:_MAX_PAIRWISE]
    for i, a in enumerate(pairwise):
        for b in pairwise:
            if a is not b and b.link == mac.link(b.previous, b.oid, b.version, a.topic,
                                                 a.state):
                fits[i] = b
                break
    for i, s in enumerate(suspects):
        where = _where(s.oid, s.version, s.position)
        home = fits.get(i)
        if home is not None:
            problems.add("reordered", s.oid, s.version, s.position,
                         f"{where} holds the event recorded as "
                         f"{_where(home.oid, home.version, home.position)}: events were "
                         "swapped")
        elif s.forged and s.last:
            problems.add("inserted", s.oid, s.version, s.position,
                         f"{where} and its chain link were not written with the audit key: "
                         "a forged event was added")
        elif s.forged:
            problems.add("edited", s.oid, s.version, s.position,
                         f"{where} and its chain link were rewritten without the audit key")
        else:
            problems.add("edited", s.oid, s.version, s.position,
                         f"{where} ({_short_topic(s.topic)}) does not match its chain link: "
                         "its content was changed")


def _report_breaks(breaks: list[_LogBreak], problems: _Problems, unlinked: set[int]) -> None:
    """Log links that do not follow from their predecessor and that the stream walk has not
    explained already."""
    located = problems.located
    previous_row: dict[int, tuple[str, int]] = {}
    for b in breaks:
        previous_row[b.position] = (b.oid, b.version)
    for b in breaks:
        if b.position > b.previous + 1:
            missing = range(b.previous + 1, b.position)
            if all(p in unlinked for p in missing):
                continue
            span = (f"position {missing[0]}" if len(missing) == 1
                    else f"positions {missing[0]}-{missing[-1]}")
            problems.add("deleted", None, None, missing[0],
                         f"{span} of the log {'is' if len(missing) == 1 else 'are'} gone "
                         f"together with {'its' if len(missing) == 1 else 'their'} chain "
                         f"link{'s' if len(missing) > 1 else ''} (the link at position "
                         f"{b.position} does not follow from position {b.previous})")
            continue
        if (b.oid, b.version) in located or previous_row.get(b.previous) in located:
            continue
        problems.add("edited", b.oid, b.version, b.position,
                     f"the log link at position {b.position} (stream {b.oid} version "
                     f"{b.version}) does not follow from position {b.previous}: the chain "
                     "row was rewritten")


def _check_seal(reader: _Reader, seal: Seal, problems: _Problems) -> None:
    found = [r[0] for r in reader.all("SELECT log_link FROM {chain} WHERE notification_id={p}",
                                      (seal.position,))]
    if not found:
        end = reader.one("SELECT MAX(notification_id) FROM {chain}")[0] or 0
        problems.add("deleted", None, None, seal.position,
                     f"the seal is at position {seal.position} but the log ends at position "
                     f"{end}: the events after it were removed")
    elif not any(isinstance(f, bytes) and f.hex() == seal.log_link for f in found):
        problems.add("edited", None, None, seal.position,
                     f"the log link at the sealed position {seal.position} differs from the "
                     "seal: the log up to it was rewritten")


def _in_gaps(position: int, gaps: list[tuple[int, int]]) -> bool:
    return any(lo <= position <= hi for lo, hi in gaps)


def _where(oid: str, version: int, position: int | None) -> str:
    at = f" (position {position})" if position is not None else ""
    return f"stream {oid} version {version}{at}"


def _short_topic(topic: str) -> str:
    return topic.rsplit(":", 1)[-1]
