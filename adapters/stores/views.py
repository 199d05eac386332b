"""The read models' database: the same place as the events, reached through SQLAlchemy."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from adapters.stores.events import LedgerApplication
from adapters.stores.urls import (
    SQLITE_CACHE_KIB,
    StoreError,
    quoted,
    schema_lock,
    store_env,
)
from domain.policy_book import PolicyBook
from projections.views import LedgerViews


def views_engine(url: str) -> Engine:
    """An engine on the store's own database: the SQLite file, a private in-memory one, or
    the PostgreSQL database and schema of the events (psycopg 3)."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return create_engine("sqlite://", poolclass=StaticPool,
                             connect_args={"check_same_thread": False})
    if scheme == "sqlite":
        path = store_env(url)["SQLITE_DBNAME"]
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            _write_ahead_log(dbapi_connection)
            # SQLite's default page cache is 2 MB: a region's views or a province's directory
            # of hundreds of MB, updated at keys spread over their B-trees, would read most
            # pages back from the OS at every statement (ADR 101)
            dbapi_connection.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")

        return engine
    if scheme in ("postgresql", "postgres"):
        env = store_env(url)
        target = URL.create("postgresql+psycopg", username=env["POSTGRES_USER"],
                            password=env["POSTGRES_PASSWORD"] or None,
                            host=env["POSTGRES_HOST"], port=int(env["POSTGRES_PORT"]),
                            database=env["POSTGRES_DBNAME"])
        schema = env.get("POSTGRES_SCHEMA") or "public"
        # The views' tables live beside the events, in the store's schema.
        return create_engine(target, pool_size=2, max_overflow=8, pool_pre_ping=True,
                             connect_args={
                                 "options": f"-csearch_path={_option(quoted(schema))}",
                                 "connect_timeout": int(env["POSTGRES_CONNECT_TIMEOUT"])})
    raise StoreError(f"{url}: the read models support sqlite:///, postgresql:// and memory:// "
                     "stores")


def _write_ahead_log(dbapi_connection: sqlite3.Connection, patience: float = 30.0) -> None:
    """Switch the file to WAL mode. A new file's switch needs it to itself, and SQLite answers
    "database is locked" at once, without waiting its busy timeout, while another process
    holds it (processes opening a new store together): tried again for up to `patience`
    seconds, as long as the lock timeout of every other statement."""
    deadline = time.monotonic() + patience
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _option(value: str) -> str:
    """A value inside libpq's `options`: spaces and backslashes escaped."""
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def views_on(store: LedgerApplication, url: str, book: PolicyBook) -> LedgerViews:
    """The views of an event store, tables created if missing; person data held as the
    store's cipher key has it (ADR 21)."""
    engine = views_engine(url)
    with _creating_tables(engine, url):
        return LedgerViews(engine, book, store.name, personal=store.personal)


@contextmanager
def _creating_tables(engine: Engine, url: str) -> Iterator[None]:
    """On PostgreSQL, one process at a time creates the views' tables in a schema."""
    if engine.dialect.name != "postgresql":
        yield
        return
    schema = store_env(url).get("POSTGRES_SCHEMA") or "public"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, \
            schema_lock(conn.exec_driver_sql, schema):
        yield


def directory_engine(url: str) -> Engine:
    """An engine on a deployment's directory (ADR 57): a SQLite file, or a PostgreSQL schema
    created if missing."""
    engine = views_engine(url)
    if engine.dialect.name == "postgresql":
        schema = store_env(url).get("POSTGRES_SCHEMA") or "public"
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, \
                schema_lock(conn.exec_driver_sql, schema):
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted(schema)}")
    return engine
