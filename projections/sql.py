"""Statements compiled once per dialect and run through the driver, skipping SQLAlchemy's
per-execution parameter and result processing (most of the cost of small queries and of
executemany). The SQL itself is still built with SQLAlchemy Core, so it stays portable."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Connection, CursorResult, Dialect


def one_creator_at_a_time(conn: Connection, tables: str) -> None:
    """Begin a transaction that creates `tables` (a name for the lock) by taking the lock that
    makes other processes opening the same new store wait, then find the tables made:
    SQLite's write lock (`BEGIN IMMEDIATE`; the driver would otherwise run each CREATE on its
    own) or a PostgreSQL advisory lock held to the commit."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%s))",
                             (f"benefitpool {tables} tables",))
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Prepared:
    """One statement compiled for one dialect; parameters given as a dict (or dicts)."""

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        selected = getattr(statement, "selected_columns", None)
        self.row = namedtuple("Row", [c.key for c in selected]) if selected else None
        self.positional = bool(compiled.positional)
        names = list(compiled.positiontup or ()) if self.positional else []
        if len(names) > 1:
            self._order = itemgetter(*names)
        elif names:
            name = names[0]
            self._order = lambda row: (row[name],)
        else:
            self._order = lambda row: ()

    def params(self, row: dict[str, Any]) -> Any:
        return self._order(row) if self.positional else row

    def execute(self, conn: Connection, params: dict[str, Any] | None = None) -> CursorResult:
        return conn.exec_driver_sql(self.sql, self.params(params or {}))

    def fetch(self, conn: Connection, params: dict[str, Any] | None = None) -> list[Any]:
        """A SELECT's rows (named tuples), straight from the driver's cursor."""
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql, self.params(params or {}))
            make = self.row._make
            return [make(r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    def fetch_one(self, conn: Connection, params: dict[str, Any] | None = None) -> Any:
        """A SELECT's first row (a named tuple) or None."""
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql, self.params(params or {}))
            found = cursor.fetchone()
            return None if found is None else self.row._make(found)
        finally:
            cursor.close()

    def execute_many(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if self.positional:
            conn.exec_driver_sql(self.sql, [self._order(r) for r in rows])
        else:
            conn.exec_driver_sql(self.sql, list(rows))


class Statements:
    """Prepared statements per dialect, built lazily from SQLAlchemy statements."""

    def __init__(self, **statements: Any) -> None:
        self._statements = statements
        self._by_dialect: dict[str, dict[str, Prepared]] = {}

    def on(self, dialect: Dialect) -> dict[str, Prepared]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = {k: Prepared(s, dialect) for k, s in self._statements.items()}
            self._by_dialect[dialect.name] = found
        return found
