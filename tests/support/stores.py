"""Fresh stores of both kinds (SQLite files and PostgreSQL schemas), and plain SQL on them
behind the ledger's back."""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import sqlite3
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from adapters.stores.urls import quoted, store_env
from tests.support.states import packed, plain

#: The PostgreSQL server of these machines (trust authentication); each test gets a schema.
#: BENEFITPOOL_TEST_POSTGRES names another one.
POSTGRES = os.environ.get("BENEFITPOOL_TEST_POSTGRES",
                          "postgresql://postgres@127.0.0.1:5432/test")
#: Set to 1 (as `.ci/run` does), an unreachable server fails the PostgreSQL tests.
REQUIRE_POSTGRES = "BENEFITPOOL_REQUIRE_POSTGRES"
STORES = ("sqlite", "postgresql")
_schemas = itertools.count(1)


@functools.cache
def postgres_problem() -> str | None:
    """Why the PostgreSQL server cannot be used, or None when it can."""
    try:
        with psycopg.connect(POSTGRES, connect_timeout=3):
            return None
    except Exception as e:  # any failure to connect means: not usable here
        return f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is unreachable, or fail it under CI."""
    problem = postgres_problem()
    if problem is None:
        return
    env = store_env(POSTGRES)
    message = (f"PostgreSQL not reachable at {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}: "
               f"{problem}")
    if os.environ.get(REQUIRE_POSTGRES) == "1":
        pytest.fail(f"{message} ({REQUIRE_POSTGRES}=1: the PostgreSQL tests must run)",
                    pytrace=False)
    pytest.skip(message)


class Stores:
    """Fresh, empty stores of one kind: SQLite files in a folder, or PostgreSQL schemas of
    their own (created empty, dropped with everything in them by `close`)."""

    def __init__(self, kind: str, folder: Path) -> None:
        if kind not in STORES:
            raise ValueError(kind)
        if kind == "postgresql":
            require_postgres()
        self.kind = kind
        self.folder = folder
        self.schemas: list[str] = []

    def new(self, name: str = "ledger") -> str:
        """The URL of a new empty store; `name` tells a test's stores apart."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / f'{name}.db'}"
        schema = f"bpt_{os.getpid()}_{next(_schemas)}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {quoted(schema)}")
        self.schemas.append(schema)
        return f"{POSTGRES}?schema={schema}"

    def close(self) -> None:
        if not self.schemas:
            return
        try:
            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '30s'")
                for schema in self.schemas:
                    conn.execute(f"DROP SCHEMA IF EXISTS {quoted(schema)} CASCADE")
        except psycopg.Error as e:  # a connection left in a transaction holds a lock
            warnings.warn(f"test schemas {self.schemas} not dropped: {e}", stacklevel=1)
        self.schemas.clear()


@contextmanager
def stores(kind: str, folder: Path) -> Iterator[Stores]:
    made = Stores(kind, folder)
    try:
        yield made
    finally:
        made.close()


class RawStore:
    """Plain SQL on a store behind the ledger's back (an operator's or an attacker's access),
    in one transaction. Statements use `?` parameters and name `{events}`, `{chain}`,
    `{meta}` and `{pos}` (the events' log position: SQLite's rowid, PostgreSQL's
    notification_id); originator ids come back as hex text from either store."""

    def __init__(self, connection: Any, postgres: bool) -> None:
        self.connection = connection
        self.postgres = postgres
        self.names = {"events": "benefitpool_events" if postgres else "stored_events",
                      "chain": "event_chain", "meta": "event_chain_meta",
                      "pos": "notification_id" if postgres else "rowid"}

    def sql(self, statement: str) -> str:
        statement = statement.format(**self.names)
        return statement.replace("?", "%s") if self.postgres else statement

    def execute(self, statement: str, params: tuple | list = ()) -> list[tuple]:
        params = tuple(params)
        cur = self.connection.execute(self.sql(statement),
                                      None if self.postgres and not params else params)
        if cur.description is None:
            return []
        return [tuple(v.hex if isinstance(v, UUID) else v for v in row)
                for row in cur.fetchall()]

    def one(self, statement: str, params: tuple | list = ()) -> tuple | None:
        rows = self.execute(statement, params)
        return rows[0] if rows else None

    def link_of(self, oid: str, version: int) -> bytes:
        """The chain link of a stream's version, found through its event's position (chain
        rows of format "2" name no event)."""
        return bytes(self.one("SELECT c.link FROM {chain} c JOIN {events} e ON "
                              "c.notification_id=e.{pos} WHERE e.originator_id=? AND "
                              "e.originator_version=?", (oid, version))[0])

    def chain_format(self) -> str:
        """ "1" if the chain rows name their event's originator, "2" if not (ADR 53)."""
        return self.one("SELECT value FROM {meta} WHERE name='format'")[0]

    def insert_link(self, position: int, oid: str, version: int, link: bytes,
                    log_link: bytes) -> None:
        """A chain row, in the store's chain format."""
        if self.chain_format() == "1":
            self.execute("INSERT INTO {chain} VALUES (?,?,?,?,?)",
                         (position, oid, version, link, log_link))
        else:
            self.execute("INSERT INTO {chain} VALUES (?,?,?)", (position, link, log_link))

    def insert_event(self, oid: str, version: int, topic: str, state: bytes) -> int:
        """An event appended to the log; returns its position."""
        insert = ("INSERT INTO {events} (originator_id, originator_version, topic, state) "
                  "VALUES (?,?,?,?)")
        if self.postgres:
            return self.one(insert + " RETURNING notification_id", (oid, version, topic,
                                                                    state))[0]
        return self.connection.execute(self.sql(insert), (oid, version, topic,
                                                         state)).lastrowid


@contextmanager
def raw_store(url: str) -> Iterator[RawStore]:
    """Plain SQL on the store at `url`, committed at the end (rolled back on an error)."""
    env = store_env(url)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        con = sqlite3.connect(env["SQLITE_DBNAME"])
        try:
            with con:
                yield RawStore(con, postgres=False)
        finally:
            con.close()
        return
    with psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                         user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"],
                         dbname=env["POSTGRES_DBNAME"]) as conn:
        conn.execute(f"SET search_path TO {quoted(env.get('POSTGRES_SCHEMA', 'public'))}")
        yield RawStore(conn, postgres=True)


def copy_store(source: str, target: str) -> None:
    """Copy the ledger's events and event chain from one store into an empty one of the same
    kind (a SQLite file is copied whole, views included; a PostgreSQL schema gets the ledger's
    tables, then their rows)."""
    source_env, target_env = store_env(source), store_env(target)
    if source_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{source_env['SQLITE_DBNAME']}{suffix}").exists():
                shutil.copy(f"{source_env['SQLITE_DBNAME']}{suffix}",
                            f"{target_env['SQLITE_DBNAME']}{suffix}")
        return
    from adapters.stores.events import LedgerApplication
    from tests.support.former import FormerLedgerApplication

    with raw_store(source) as con:
        chain_format = con.chain_format()
    application = LedgerApplication if chain_format != "1" else FormerLedgerApplication
    application(env=target_env).close()  # the tables, empty, the chain in the source's format
    with raw_store(target) as con:
        for table in ("events", "chain", "meta"):
            name = con.names[table]
            con.execute(f"INSERT INTO {name} SELECT * FROM "
                        f"{quoted(source_env['POSTGRES_SCHEMA'])}.{name}")
        con.execute("SELECT setval(pg_get_serial_sequence('{events}', 'notification_id'), "
                    "(SELECT MAX(notification_id) FROM {events}))")


def tamper(url: str, edits: list[tuple[str, float, float]]) -> None:
    """Edit the stored events of an unencrypted store behind the ledger's back: "delete" an
    event, add one yuan to an event's first "amount" of money, or "move" an event to the end
    of another event's stream. Each event is chosen by its rank in the log (a fraction)."""
    with raw_store(url) as con:
        for kind, which, other in edits:
            rows = con.execute("SELECT {pos}, originator_id, state FROM {events} ORDER BY {pos}")
            if not rows:
                return
            position, oid, state = rows[int(which * len(rows))]
            if kind == "delete":
                con.execute("DELETE FROM {events} WHERE {pos} = ?", (position,))
            elif kind == "amount":
                data = json.loads(plain(bytes(state)))
                money = [k for k, v in data.items()
                         if isinstance(v, dict) and v.get("_type_") == "money"]
                if money:
                    data[money[0]]["_data_"] += 100
                    con.execute("UPDATE {events} SET state = ? WHERE {pos} = ?",
                                (packed(json.dumps(data).encode()), position))
            else:
                target = rows[int(other * len(rows))][1]
                top = con.one("SELECT MAX(originator_version) FROM {events} WHERE "
                              "originator_id = ?", (target,))[0]
                if target != oid:
                    con.execute("UPDATE {events} SET originator_id = ?, originator_version = ? "
                                "WHERE {pos} = ?", (target, top + 1, position))


def examples_on(kind: str, sqlite_examples: int) -> int:
    """How many examples a property over stores runs on this kind of store: all of them on
    SQLite; a quarter (at least 3) on PostgreSQL. The rules under test are the same code on
    either store and are proved on SQLite; PostgreSQL's examples prove its store."""
    return sqlite_examples if kind == "sqlite" else max(3, sqlite_examples // 4)


def county_ledger(url: str, book: Any, regime: str, seed: int, households: int,
                  batch_size: int = 97) -> Any:
    """A ledger on `url` holding a generated county (`benefitpool generate`'s commands),
    ingested in batches of `batch_size`; the caller closes it."""
    from adapters.composition import open_ledger
    from adapters.generator import generate_county

    ledger = open_ledger(url, book)
    lines = [json.dumps(c) for c in generate_county(households, regime, seed, book)]
    list(ledger.execute_lines(lines, batch_size=batch_size))
    return ledger
