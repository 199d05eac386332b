"""Shared test helpers: valid resident IDs, the shipped policy book, an in-memory port, and
fresh stores of both kinds (SQLite files and PostgreSQL schemas)."""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from stdnum.cn import ric

from adapters.policy_files import load_policy_book
from adapters.store import quoted, store_env
from domain.aggregates import (
    ClaimRef,
    Household,
    PaymentRef,
    Person,
    claim_ref_id,
    household_id,
    payment_ref_id,
    person_id,
)
from domain.commands import parse_command
from domain.errors import Rejected
from domain.policy import PolicyBook
from domain.service import LedgerService, Outcome

RECORDED_AT = datetime(2030, 1, 1, tzinfo=timezone.utc)


def make_id(region: str = "341225", birth: date | str = "19800101", seq: int | str = 1) -> str:
    """A valid 18-character resident ID: region + YYYYMMDD + 3-digit sequence + check."""
    if isinstance(birth, date):
        birth = birth.strftime("%Y%m%d")
    base = f"{region}{birth}{int(seq):03d}"
    return base + ric.calc_check_digit(base + "0")


@pytest.fixture(scope="session")
def book() -> PolicyBook:
    return load_policy_book()


class FakeAggregates:
    """A dict-backed `Aggregates` port: the aggregates live in memory between commands."""

    def __init__(self) -> None:
        self.store: dict[UUID, Any] = {}
        self.events: list[Any] = []

    def _get(self, aggregate_id: UUID) -> Any:
        return self.store.get(aggregate_id)

    def person(self, key: str) -> Person | None:
        return self._get(person_id(key))

    def household(self, head: str, year: int) -> Household | None:
        return self._get(household_id(head, year))

    def household_by_id(self, hid: UUID) -> Household | None:
        return self._get(hid)

    def payment_ref(self, ref: str) -> PaymentRef | None:
        return self._get(payment_ref_id(ref))

    def claim_ref(self, claim_id: str) -> ClaimRef | None:
        return self._get(claim_ref_id(claim_id))

    def save(self, outcome: Outcome) -> list[Any]:
        """Remember the changed aggregates; returns (and keeps) their new events."""
        new: list[Any] = []
        for aggregate in outcome.changed:
            new.extend(aggregate.collect_events())
            self.store[aggregate.id] = aggregate
        self.events.extend(new)
        return new

    def pending(self) -> list[Any]:
        """Events triggered on stored aggregates but never saved (should stay empty)."""
        return [e for agg in self.store.values() for e in agg.pending_events]

    def versions(self) -> dict[UUID, int]:
        return {aid: agg.version for aid, agg in self.store.items()}


class World:
    """A LedgerService over a FakeAggregates port, driven by contract command objects."""

    def __init__(self, book: PolicyBook) -> None:
        self.book = book
        self.service = LedgerService(book)
        self.port = FakeAggregates()

    def handle(self, command: dict[str, Any]) -> tuple[Outcome, list[Any]]:
        """Parse and handle a command; save what changed. Raises Rejected."""
        outcome = self.service.handle(parse_command(command), self.port, RECORDED_AT)
        return outcome, self.port.save(outcome)

    def ok(self, **command: Any) -> dict[str, Any]:
        return self.handle(command)[0].fields

    def events(self, **command: Any) -> list[Any]:
        return self.handle(command)[1]

    def reject(self, **command: Any) -> str:
        """The reason code of a command that must be refused."""
        try:
            outcome, _ = self.handle(command)
        except Rejected as e:
            return e.reason
        raise AssertionError(f"{command['op']} was accepted: {outcome.fields}")

    # --- shorthands ------------------------------------------------------------------------

    def register(self, person: str, region: str = "341225", at: str = "2020-09-01",
                 **extra: Any) -> dict[str, Any]:
        return self.ok(op="register", person=person, name="测试", region=region, at=at,
                       **extra)

    def enroll(self, person: str, year: int = 2021, region: str = "341225",
               at: str = "2020-09-10", **extra: Any) -> dict[str, Any]:
        return self.ok(op="enroll", person=person, year=year, region=region, at=at, **extra)

    def pay(self, person: str, amount: str = "280.00", year: int = 2021,
            at: str = "2020-10-01", channel: str = "cash", ref: str | None = None,
            **extra: Any) -> dict[str, Any]:
        ref = ref or f"pay-{person}-{year}-{len(self.port.events)}"
        return self.ok(op="pay", person=person, year=year, amount=amount, channel=channel,
                       payment_ref=ref, at=at, **extra)

    def member(self, person: str, head: str | None = None, region: str = "341225",
               year: int = 2021, amount: str | None = "280.00", enroll_at: str = "2020-09-10",
               pay_at: str = "2020-10-01", register_at: str = "2019-01-01",
               **enroll_extra: Any) -> dict[str, Any]:
        """Register, enroll (in head's household if given) and pay in full."""
        self.register(person, region=region, at=register_at)
        if head is not None:
            enroll_extra["household_head"] = head
        result = self.enroll(person, year=year, region=region, at=enroll_at, **enroll_extra)
        if amount is not None:
            result = self.pay(person, amount=amount, year=year, at=pay_at)
        return result

    def claim(self, claim_id: str, person: str, expense: str, visit_date: str = "2021-03-01",
              facility_level: int = 1, facility_region: str = "341225",
              **extra: Any) -> dict[str, Any]:
        return self.ok(op="claim", claim_id=claim_id, person=person, visit_date=visit_date,
                       facility_level=facility_level, facility_region=facility_region,
                       expense=expense, at=f"{visit_date}T10:00:00+08:00", **extra)


@pytest.fixture
def world(book: PolicyBook) -> World:
    return World(book)


# --- a two-person family, as contract commands (shared by the integration tests) ------------

FAMILY_AT = "2020-10-01T10:00:00+08:00"
HEAD = make_id("341225", "19800101", 11)
WIFE = make_id("341225", "19820202", 22)


def family() -> list[dict[str, Any]]:
    """Head and wife registered, enrolled in one household and paid for 2021 (Funan)."""
    at = FAMILY_AT
    return [
        {"op": "register", "person": HEAD, "name": "Head", "region": "341225", "at": at},
        {"op": "register", "person": WIFE, "name": "Wife", "region": "341225", "at": at},
        {"op": "enroll", "person": HEAD, "year": 2021, "region": "341225", "at": at},
        {"op": "pay", "person": HEAD, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "P1", "at": at},
        {"op": "enroll", "person": WIFE, "year": 2021, "region": "341225", "at": at,
         "household_head": HEAD},
        {"op": "pay", "person": WIFE, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "P2", "at": at},
    ]


def claim(claim_id: str, person: str, expense: str) -> dict[str, Any]:
    """A village-clinic visit on 1 March 2021 in Funan."""
    return {"op": "claim", "claim_id": claim_id, "person": person, "visit_date": "2021-03-01",
            "facility_level": 0, "facility_region": "341225", "expense": expense,
            "at": "2021-03-01T09:00:00+08:00"}


# --- stores: the tests that use one run on SQLite and on PostgreSQL ---------------------------

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


@pytest.fixture(scope="module", params=STORES)
def module_stores(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    """Stores that live as long as a test module: its tests run with SQLite stores, then
    with PostgreSQL ones."""
    with stores(request.param, tmp_path_factory.mktemp("stores")) as made:
        yield made


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each test that asks for a store runs once on SQLite and once on PostgreSQL."""
    return request.param


@pytest.fixture
def new_store(store_kind: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Makes fresh stores of the test's kind: `new_store("name")` gives a URL."""
    with stores(store_kind, tmp_path) as made:
        yield made.new


@pytest.fixture
def store_url(new_store: Callable[..., str]) -> str:
    """A fresh, empty store: a SQLite file in tmp_path, or a PostgreSQL schema."""
    return new_store("ledger")


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
    from adapters.ledger import LedgerApplication

    LedgerApplication(env=target_env).close()  # the tables, empty
    with raw_store(target) as con:
        for table in ("events", "chain", "meta"):
            name = con.names[table]
            con.execute(f"INSERT INTO {name} SELECT * FROM "
                        f"{quoted(source_env['POSTGRES_SCHEMA'])}.{name}")
        con.execute("SELECT setval(pg_get_serial_sequence('{events}', 'notification_id'), "
                    "(SELECT MAX(notification_id) FROM {events}))")
