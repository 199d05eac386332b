"""Store selection: a database URL becomes the eventsourcing library's environment."""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from domain.errors import LedgerError

DEFAULT_DB = "sqlite:///benefitpool.db"


#: URL query options of a postgresql:// store and the library settings they give.
POSTGRES_OPTIONS = {
    "schema": "POSTGRES_SCHEMA",
    "pool_size": "POSTGRES_POOL_SIZE",
    "max_overflow": "POSTGRES_MAX_OVERFLOW",
    "connect_timeout": "POSTGRES_CONNECT_TIMEOUT",
    "lock_timeout": "POSTGRES_LOCK_TIMEOUT",
}


SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class StoreError(LedgerError):
    """The database URL cannot be used."""


#: The ledger's name in its store: on PostgreSQL its events table is `<name>_events`.
LEDGER_NAME = "benefitpool"
POSTGRES_EVENTS_TABLE = f"{LEDGER_NAME}_events"
#: The events table of an SQLite store, as the library names it.
SQLITE_EVENTS_TABLE = "stored_events"
#: The page cache of every SQLite connection the ledger opens (events, views, directory), in
#: KiB; SQLite's own default is 2 MB (ADR 101).
SQLITE_CACHE_KIB = 65_536
#: Aggregates a ledger keeps in memory, and streams whose last chain link its recorder keeps
#: (least recently used leave first): a pooling region of 75,000 households has about 330,000
#: persons and households, all of them touched again through the year (ADR 101).
STREAMS_CACHED = 1_000_000


def missing_store(url: str) -> str | None:
    """Why there is no store at `url` yet (None when there is one): an SQLite file that does
    not exist, a PostgreSQL database without the ledger's events table; memory always has
    one. Nothing is created by asking. StoreError for a URL that cannot be used."""
    env = store_env(url)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        path = env["SQLITE_DBNAME"]
        if path == ":memory:" or path.startswith("file:") or Path(path).is_file():
            return None
        return f"the file {path} does not exist"
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        import psycopg

        schema = env.get("POSTGRES_SCHEMA")
        table = f"{quoted(schema)}.{POSTGRES_EVENTS_TABLE}" if schema else POSTGRES_EVENTS_TABLE
        try:
            with psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                                 dbname=env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                                 password=env["POSTGRES_PASSWORD"] or None,
                                 connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"])) as conn:
                found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        except psycopg.Error as e:
            raise StoreError(f"cannot open the store {url}: {str(e).strip()}") from None
        if found is None or found[0] is None:
            return f"the database has no ledger{f' in the schema {schema}' if schema else ''}"
    return None


def is_postgres(obj: Any, class_name: str) -> bool:
    """Whether `obj` is an instance of the store library's PostgreSQL class `class_name`,
    without loading that module and its driver for a store on SQLite: before it is loaded,
    nothing of PostgreSQL exists."""
    module = sys.modules.get("eventsourcing.postgres")
    return module is not None and isinstance(obj, getattr(module, class_name))


def store_failures() -> tuple[type[BaseException], ...]:
    """What a store raises when it fails under a writer (a full disk, a read-only file, a lost
    connection): the library's own errors and the drivers'. The PostgreSQL driver's only once
    it is loaded (no PostgreSQL store is open before), so that SQLite alone never loads it."""
    from eventsourcing.persistence import PersistenceError

    failures: list[type[BaseException]] = [PersistenceError, sqlite3.Error]
    driver = sys.modules.get("psycopg")
    if driver is not None:
        failures.append(driver.Error)
    return tuple(failures)


def quoted(identifier: str) -> str:
    """An SQL identifier (a PostgreSQL schema or table name), double-quoted."""
    return '"' + identifier.replace('"', '""') + '"'


@contextmanager
def schema_lock(execute: Callable[[str, tuple[Any, ...]], Any], schema: str) -> Iterator[None]:
    """Hold a PostgreSQL session advisory lock for creating tables in `schema`, so that
    processes opening a new store at once do not create the same objects at once.
    `execute(sql, params)` runs a statement on the (autocommit) connection that holds it."""
    key = (f"benefitpool tables in {schema}",)
    execute("SELECT pg_advisory_lock(hashtext(%s))", key)
    try:
        yield
    finally:
        execute("SELECT pg_advisory_unlock(hashtext(%s))", key)


def store_env(url: str) -> dict[str, str]:
    """The library settings for a URL: sqlite:///FILE, memory://, postgresql://…"""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if url.startswith("sqlite:///") and path.startswith("/") and not url.startswith(
                "sqlite:////"):
            path = path[1:]
        if not path:
            raise StoreError(f"{url}: a SQLite URL needs a file, e.g. sqlite:///benefitpool.db")
        if path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"{url}: the folder {parent} does not exist")
            path = str(Path(path).expanduser())
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30"}
    if parsed.scheme == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if parsed.scheme in ("postgresql", "postgres"):
        query = parse_qs(parsed.query)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            # One connection kept open, more opened while needed: a CLI run or a test needs
            # one, a server under load several.
            "POSTGRES_POOL_SIZE": "1",
            "POSTGRES_MAX_OVERFLOW": "9",
            "POSTGRES_CONNECT_TIMEOUT": "10",
        }
        for name, setting in POSTGRES_OPTIONS.items():
            if name in query:
                env[setting] = query[name][0]
        schema = env.get("POSTGRES_SCHEMA")
        if schema is not None and not SCHEMA_NAME.fullmatch(schema):
            # The library names its composite type by "schema.type" unquoted.
            raise StoreError(f"{url}: a schema name is lower-case letters, digits and _, "
                             "starting with a letter or _, at most 63 characters")
        return env
    raise StoreError(f"{url}: unsupported database URL (use sqlite:///FILE, memory:// or "
                     "postgresql://USER[:PASSWORD]@HOST:PORT/DB[?schema=NAME])")
