"""What a store takes on disk: the bytes of each table and index, the events by type and a
sample of stored states, read from SQLite (the `dbstat` table, or page counts where SQLite
was built without it) or from PostgreSQL's catalogue."""

from __future__ import annotations

import sqlite3
from typing import Any

from attrs import frozen
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.rows import tuple_row

from adapters.stores.chain import CHAIN_TABLE, META_TABLE
from adapters.stores.urls import StoreError, quoted

EVENT_STORE = "event store"
VIEWS = "views"
WHOLE_FILE = "(the whole file)"
#: SQLite's catalogue of the file's tables, counted with the event store.
SQLITE_CATALOGUE = ("sqlite_schema", "sqlite_master")


@frozen
class Relation:
    """A table or an index and the bytes it takes (pages, TOAST included)."""

    name: str
    table: str  # the table an index belongs to; a table's own name
    kind: str  # "table" or "index"
    part: str  # EVENT_STORE, VIEWS, or "all" for the whole file
    bytes: int


@frozen
class Footprint:
    relations: tuple[Relation, ...]
    measured_by: str  # "dbstat", "page counts" or "pg_relation_size"
    events_by_topic: tuple[tuple[str, int], ...]
    stored_state_bytes: int  # all events' states as stored
    sample: tuple[bytes, ...]  # stored states of events spread over the log


def footprint(recorder: Any, sample_size: int = 10_000) -> Footprint:
    """The store's relations, its events counted by topic, the states' stored bytes and
    up to `sample_size` stored states spread evenly over the log."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as c:
            return _sqlite(c.sqlite_cursor.connection, recorder.events_table_name, sample_size)
    if isinstance(recorder, PostgresApplicationRecorder):
        with recorder.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor(row_factory=tuple_row) as c:
            return _postgres(c, recorder.datastore.schema, recorder.events_table_name,
                             sample_size)
    raise StoreError("sizes are measured for SQLite and PostgreSQL stores only")


def _part(table: str, events_table: str) -> str:
    ours = (events_table, CHAIN_TABLE, META_TABLE, *SQLITE_CATALOGUE)
    return EVENT_STORE if table in ours else VIEWS


def _sqlite(db: sqlite3.Connection, events: str, sample_size: int) -> Footprint:
    tables = dict(db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN "
                             "('table', 'index')").fetchall())
    try:
        pages = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        measured_by = "dbstat"
        relations = tuple(
            Relation(name, tables.get(name, name),
                     "table" if tables.get(name, name) == name else "index",
                     _part(tables.get(name, name), events), int(size))
            for name, size in pages)
    except sqlite3.OperationalError:  # SQLite built without the dbstat table
        measured_by = "page counts"
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        used = (db.execute("PRAGMA page_count").fetchone()[0]
                - db.execute("PRAGMA freelist_count").fetchone()[0])
        relations = (Relation(WHOLE_FILE, WHOLE_FILE, "table", "all", used * page_size),)
    by_topic, state_bytes, sample = _events(
        lambda sql, params=(): db.execute(sql, params).fetchall(), events, "rowid", "?",
        "length", sample_size)
    return Footprint(relations, measured_by, by_topic, state_bytes, sample)


def _postgres(c: Any, schema: str, events: str, sample_size: int) -> Footprint:
    c.execute(
        "SELECT r.relname, COALESCE(t.relname, r.relname), r.relkind, "
        "CASE WHEN r.relkind = 'i' THEN pg_relation_size(r.oid) ELSE pg_table_size(r.oid) END "
        "FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace "
        "LEFT JOIN pg_index i ON i.indexrelid = r.oid "
        "LEFT JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE n.nspname = %s AND r.relkind IN ('r', 'i', 'p')", (schema,))
    relations = tuple(Relation(name, table, "index" if kind == "i" else "table",
                               _part(table, events), int(size))
                      for name, table, kind, size in c.fetchall())

    def query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        c.execute(sql, params)
        return c.fetchall()

    by_topic, state_bytes, sample = _events(
        query, f"{quoted(schema)}.{quoted(events)}", "notification_id", "%s", "octet_length",
        sample_size)
    return Footprint(relations, "pg_relation_size", by_topic, state_bytes, sample)


def _events(query: Any, table: str, position: str, p: str, length: str,
            sample_size: int) -> tuple[tuple[tuple[str, int], ...], int, tuple[bytes, ...]]:
    by_topic = tuple((topic, int(n)) for topic, n in query(
        f"SELECT topic, COUNT(*) FROM {table} GROUP BY topic ORDER BY COUNT(*) DESC, topic"))
    state_bytes = query(f"SELECT COALESCE(SUM({length}(state)), 0) FROM {table}")[0][0]
    count = sum(n for _, n in by_topic)
    step = max(1, count // max(1, sample_size))
    sample = tuple(bytes(s) for (s,) in query(
        f"SELECT state FROM {table} WHERE mod({position}, {p}) = 0 ORDER BY {position} "
        f"LIMIT {p}" if p == "%s" else
        f"SELECT state FROM {table} WHERE {position} % {p} = 0 ORDER BY {position} LIMIT {p}",
        (step, sample_size)))
    return by_topic, int(state_bytes), sample
