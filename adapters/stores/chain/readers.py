"""Reading the events and the chain as plain tuples, the same on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from adapters.stores.chain.statements import CHAIN_TABLE, META_TABLE, Sql

PAGE = 10_000


class Reader(ABC):
    """Reads the events and the chain through one connection, inside its transaction, as
    plain tuples: originator ids as hex text, state and links as bytes, on either store."""

    def __init__(self, sql: Sql) -> None:
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

    @abstractmethod
    def chain_columns(self) -> set[str]:
        """The columns of the chain's table (none if it does not exist)."""

    def chain_format(self) -> str:
        """The format of the chain's rows, told by its table's columns (ADR 53): "1" if they
        name their event's originator, "2" if not (or if there is no table yet)."""
        return "1" if "originator_id" in self.chain_columns() else "2"

    def in_its_format(self) -> Reader:
        """This reader, its statements in the format of the store's chain."""
        self.sql = self.sql.of_format(self.chain_format())
        return self


class SQLiteReader(Reader):
    def __init__(self, db: sqlite3.Connection, sql: Sql) -> None:
        super().__init__(sql)
        self.db = db

    def stream(self, template: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        cur = self.db.cursor()
        cur.row_factory = None
        cur.execute(self.sql(template), tuple(params))
        while page := cur.fetchmany(PAGE):
            yield from page

    def has_chain(self) -> bool:
        return len(self.all("SELECT name FROM sqlite_master WHERE type='table' AND name IN "
                            "({p},{p})", (CHAIN_TABLE, META_TABLE))) == 2

    def chain_columns(self) -> set[str]:
        return {r[0] for r in self.all("SELECT name FROM pragma_table_info({p})",
                                       (CHAIN_TABLE,))}


class PostgresReader(Reader):
    def __init__(self, conn: Any, sql: Sql) -> None:
        super().__init__(sql)
        self.conn = conn
        self.cursors = 0

    def stream(self, template: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        from psycopg.rows import tuple_row

        self.cursors += 1  # a server-side cursor: the rows come a page at a time
        with self.conn.cursor(name=f"benefitpool_chain_{self.cursors}",
                              row_factory=tuple_row) as cur:
            cur.execute(self.sql(template), tuple(params))
            while page := cur.fetchmany(PAGE):
                yield from map(_plain, page)

    def all(self, template: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        from psycopg.rows import tuple_row

        with self.conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(self.sql(template), tuple(params))
            return [_plain(r) for r in cur.fetchall()]

    def has_chain(self) -> bool:
        found = self.one("SELECT to_regclass({p}), to_regclass({p})",
                         (self.sql.chain, self.sql.meta))
        return found is not None and None not in found

    def chain_columns(self) -> set[str]:
        return {r[0] for r in self.all(
            "SELECT attname FROM pg_attribute WHERE attrelid=to_regclass({p}) AND attnum>0 "
            "AND NOT attisdropped", (self.sql.chain,))}


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A PostgreSQL row as SQLite gives it: originator ids as hex text."""
    return tuple(v.hex if type(v) is UUID else v for v in row)
