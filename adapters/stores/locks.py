"""Locks a process holds on a store while it works, so that two processes never do the same
long job at once (two ingests of one command file): a lock file beside a SQLite file, a session
advisory lock on PostgreSQL, nothing for a store in memory."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.sqlite import SQLiteFactory

from adapters.stores.urls import is_postgres
from domain.errors import LedgerError


class StoreBusy(LedgerError):
    """Another process holds the lock."""


@contextmanager
def held(app: Any, name: str) -> Iterator[None]:
    """Hold the lock `name` on the event store of `app` for the block; StoreBusy at once when
    another process holds it."""
    factory = app.factory
    if isinstance(factory, SQLiteFactory):
        path = app.env.get("SQLITE_DBNAME") or ""
        if path in ("", ":memory:") or path.startswith("file::memory:"):
            yield
            return
        with open(f"{path}.{name}.lock", "a+b") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreBusy(f"another process holds {name} on this store") from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return
    if is_postgres(factory, "PostgresFactory"):
        from psycopg.rows import tuple_row

        key = (f"benefitpool {name}",)
        conn = factory.datastore.pool.getconn()
        try:
            with conn.cursor(row_factory=tuple_row) as cur:
                got = cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", key).fetchone()[0]
            conn.commit()
            if not got:
                raise StoreBusy(f"another process holds {name} on this store")
            try:
                yield
            finally:
                _unlock(conn, key)
        finally:
            factory.datastore.pool.putconn(conn)
        return
    yield


def _unlock(conn: Any, key: tuple[str]) -> None:
    """Release a session advisory lock. A session that was lost (its server connection ended)
    already released it: the server ends a session's locks with it."""
    import psycopg

    try:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", key)
        conn.commit()
    except psycopg.OperationalError:
        conn.close()  # broken: the pool replaces it; the lock went with the session
