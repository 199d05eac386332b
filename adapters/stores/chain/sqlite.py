"""The chained recorder of a SQLite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)

from adapters.stores.chain.errors import altered
from adapters.stores.chain.readers import Reader, SQLiteReader
from adapters.stores.chain.statements import CHAIN_FORMAT, sqlite_sql
from adapters.stores.chain.writer import ChainWriter
from adapters.stores.urls import SQLITE_CACHE_KIB, STREAMS_CACHED


class SizedSQLiteConnectionPool(SQLiteConnectionPool):
    """The library's pool of SQLite connections, each given a page cache of SQLITE_CACHE_KIB
    (ADR 101): a region's events table of a few GB, its primary key on random stream ids,
    would otherwise read most of the pages an insert touches back from the OS."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection._sqlite_conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        return connection


class ChainedSQLiteRecorder(ChainWriter, SQLiteApplicationRecorder):
    """The library's SQLite application recorder, writing each event's links in the same
    transaction as the event. `chain_format` is the format of a chain table it creates; a
    store's existing table keeps its own."""

    def __init__(self, datastore: SQLiteDatastore, key: bytes,
                 events_table_name: str = "stored_events", cache_size: int = STREAMS_CACHED,
                 chain_format: str = CHAIN_FORMAT) -> None:
        self._setup_chain(key, sqlite_sql(events_table_name).of_format(chain_format),
                          cache_size)
        if type(datastore.pool) is SQLiteConnectionPool:  # the library's, made by its factory
            datastore.pool.__class__ = SizedSQLiteConnectionPool
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
        # The events first, in one statement: the first insert takes SQLite's write lock, and
        # while it is held the table's rowids (the notification ids) are given out one after
        # the other, so the batch's ids are the first one's and those after it.
        cur = c.sqlite_cursor
        rows = [(s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                 s.originator_version, s.topic, s.state) for s in stored_events]
        cur.execute(self.insert_events_statement, rows[0])
        first = cur.lastrowid
        if len(rows) > 1:
            cur.executemany(self.insert_events_statement, rows[1:])
            (last,), = cur.execute("SELECT last_insert_rowid()").fetchall()
            if last != first + len(rows) - 1:
                raise altered()
        ids = range(first, first + len(rows))
        events = [(*row, n) for row, n in zip(rows, ids, strict=True)]
        return list(ids), self._link(c, events)

    def _reader(self, c: SQLiteCursor) -> Reader:
        return SQLiteReader(c.sqlite_cursor.connection, self._sql)

    def _write_links(self, c: SQLiteCursor, rows: list[tuple[Any, ...]]) -> None:
        try:
            c.sqlite_cursor.executemany(self._sql.insert_links(), self._sql.link_rows(rows))
        except sqlite3.IntegrityError as e:
            raise altered() from e
