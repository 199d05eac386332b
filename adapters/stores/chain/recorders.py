"""The chained application recorder for a store's factory, SQLite or PostgreSQL."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.sqlite import SQLiteFactory

from adapters.stores.chain.errors import ChainError
from adapters.stores.chain.sqlite import ChainedSQLiteRecorder
from adapters.stores.chain.statements import CHAIN_FORMAT
from adapters.stores.urls import SQLITE_EVENTS_TABLE, is_postgres


def chained_recorder(factory: Any, key: bytes, application: str,
                     chain_format: str = CHAIN_FORMAT) -> ApplicationRecorder:
    """The application recorder for a SQLite or PostgreSQL store, its tables created if the
    store does (a new chain table in `chain_format`). The events table is named as the
    library names it: `stored_events` on SQLite, `<application>_events` on PostgreSQL."""
    if isinstance(factory, SQLiteFactory):
        recorder: Any = ChainedSQLiteRecorder(factory.datastore, key,
                                              events_table_name=SQLITE_EVENTS_TABLE,
                                              chain_format=chain_format)
    elif is_postgres(factory, "PostgresFactory"):
        from adapters.stores.chain.postgres import ChainedPostgresRecorder

        recorder = ChainedPostgresRecorder(factory.datastore, key,
                                           events_table_name=f"{application.lower()}_events",
                                           chain_format=chain_format)
    else:
        raise ChainError("the event chain is kept for SQLite and PostgreSQL stores only")
    if factory.env_create_table():
        recorder.create_table()
    return recorder
