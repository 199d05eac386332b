"""The chained recorder of a PostgreSQL store."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL as PgSQL
from psycopg.sql import Identifier

from adapters.stores.chain.errors import altered
from adapters.stores.chain.readers import PostgresReader, Reader
from adapters.stores.chain.statements import CHAIN_FORMAT, Sql, postgres_sql
from adapters.stores.chain.writer import ChainWriter
from adapters.stores.urls import STREAMS_CACHED, quoted, schema_lock


class ChainedPostgresRecorder(ChainWriter, PostgresApplicationRecorder):
    """The library's PostgreSQL application recorder, writing each event's links in the same
    transaction as the event. The events are inserted as the library does (one statement,
    after `LOCK TABLE … IN EXCLUSIVE MODE`, which serialises the writers of the log), then
    linked. The schema is created if missing; `chain_format` is the format of a chain table
    it creates (a store's existing table keeps its own)."""

    def __init__(self, datastore: PostgresDatastore, key: bytes, *,
                 events_table_name: str = "stored_events", cache_size: int = STREAMS_CACHED,
                 chain_format: str = CHAIN_FORMAT) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        sql = postgres_sql(datastore.schema, events_table_name).of_format(chain_format)
        self._setup_chain(key, sql, cache_size)
        self.sql_create_statements.extend(PgSQL(s) for s in sql.create_tables())
        self._insert_returning = PgSQL(
            "INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state "
            "FROM unnest(%b::{schema}.{kind}[]) "
            "RETURNING originator_id, originator_version, notification_id").format(
            events=PgSQL(sql.events), schema=Identifier(datastore.schema),
            kind=Identifier(self.stored_event_type_name))

    def _use_format(self, sql: Sql) -> None:
        super()._use_format(sql)
        # Each stream's latest event, then its chain row (a stream whose latest event has
        # none is left out: `_previous_link` deals with it)
        self._select_latest_links = sql(
            "SELECT e.originator_id, e.originator_version, c.link "
            "FROM unnest(%s::uuid[]) AS w(id) CROSS JOIN LATERAL ("
            "SELECT originator_id, originator_version, notification_id FROM {events} "
            "WHERE originator_id=w.id ORDER BY originator_version DESC LIMIT 1) e "
            "JOIN {chain} c ON c.notification_id=e.notification_id{same}")
        self._select_last_log_link = sql(
            "SELECT notification_id, log_link FROM {chain} ORDER BY notification_id DESC "
            "LIMIT 1")
        self._insert_links = sql(
            "INSERT INTO {chain} (notification_id, originator_id, originator_version, link, "
            "log_link) SELECT * FROM unnest(%b::bigint[], %b::uuid[], %b::bigint[], "
            "%b::bytea[], %b::bytea[])" if sql.named else
            "INSERT INTO {chain} (notification_id, link, log_link) SELECT * FROM "
            "unnest(%b::bigint[], %b::bytea[], %b::bytea[])")

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

    def _reader(self, c: Any) -> Reader:
        return PostgresReader(c.connection, self._sql)

    def _write_links(self, c: Any, rows: list[tuple[Any, ...]]) -> None:
        try:
            c.execute(self._insert_links, [list(column) for column in zip(
                *self._sql.link_rows(rows), strict=True)])
        except psycopg.IntegrityError as e:
            raise altered() from e
