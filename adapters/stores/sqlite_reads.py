"""An SQLite store read through the standard library's `sqlite3` alone (ADR 96): whether its
views are current with its log, their rows for `projections.lookups`, and the names persons
registered under — without SQLAlchemy or the event library, which a query loads only when the
views lag the log (then the ledger catches them up and answers).

It reads and never writes: the file is opened without creating it and the connection is
`query_only`; everything is read in one transaction, so the views' positions, the log's head
and the rows are of one moment.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from adapters.stores.compression import inflate, is_plain_state
from adapters.stores.urls import SQLITE_EVENTS_TABLE
from domain.ids import PUBLIC_IDS
from projections.catalog import TRACKING_TABLE, VIEWS
from projections.lookups import STATEMENTS, row_type

#: The stored topic of a person's first event (stored schema: the class is never renamed).
PERSON_REGISTERED_TOPIC = "domain.aggregates:Person.Registered"
#: Persons looked up per query, as the ledger's own reads of many streams do.
PAGE = 500


class Unreadable(Exception):
    """Something of the store this reader does not read as the ledger would (an event of
    another shape, a table missing): the ledger answers instead, and says what is wrong."""


class StoreReads:
    """An SQLite store's file, read in one transaction; use as a context manager."""

    def __init__(self, path: str, timeout: float = 30) -> None:
        self._conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=rw", uri=True,
                                     timeout=timeout, isolation_level=None)
        try:
            self._conn.execute("PRAGMA query_only = 1")
            self._conn.execute("BEGIN")
        except BaseException:
            self._conn.close()
            raise

    def __enter__(self) -> StoreReads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._conn.close()

    # --- the views against the log -------------------------------------------------------

    def _tables(self) -> set[str]:
        return {name for (name,) in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    def lag(self) -> int | None:
        """How far the furthest-behind view is from the log's head (0: current); None when
        the store has no views or no log yet (the ledger creates them)."""
        tables = self._tables()
        needed = {TRACKING_TABLE, SQLITE_EVENTS_TABLE, *(s.table for s in STATEMENTS.values())}
        if not needed <= tables:
            return None
        found = dict(self._conn.execute(f"SELECT view, position FROM {TRACKING_TABLE}"))
        if not set(VIEWS) <= set(found):
            return None
        (head,), = self._conn.execute(f"SELECT MAX(rowid) FROM {SQLITE_EVENTS_TABLE}")
        return max(0, (head or 0) - min(found[v] for v in VIEWS))

    def plain(self) -> bool:
        """Whether the store's events are in clear (its first one, as the ledger checks on
        opening a store: a store is encrypted or not from its first event on, ADR 21)."""
        first = self._conn.execute(
            f"SELECT state FROM {SQLITE_EVENTS_TABLE} ORDER BY rowid LIMIT 1").fetchone()
        return first is None or is_plain_state(bytes(first[0]))

    # --- the views' rows (`projections.lookups.Rows`) ----------------------------------------

    def one(self, name: str, params: dict[str, Any]) -> Any:
        found = self._conn.execute(STATEMENTS[name].sql, params).fetchone()
        return None if found is None else row_type(name)._make(found)

    def all(self, name: str, params: dict[str, Any]) -> list[Any]:
        make = row_type(name)._make
        return [make(r) for r in self._conn.execute(STATEMENTS[name].sql, params)]

    # --- the persons' streams ------------------------------------------------------------

    def registered_names(self, keys: Iterable[str]) -> dict[str, str]:
        """Each person key's registered name, from the person's first event (a store whose
        streams are named publicly: one without a cipher key). `Unreadable` for a first event
        that is not a registration in a shape this reader knows."""
        ids = {PUBLIC_IDS.person(k).hex: k for k in set(keys)}
        wanted = list(ids)
        names: dict[str, str] = {}
        for i in range(0, len(wanted), PAGE):
            chunk = wanted[i:i + PAGE]
            for oid, topic, state in self._conn.execute(
                    f"SELECT originator_id, topic, state FROM {SQLITE_EVENTS_TABLE} "
                    f"WHERE originator_version = 1 AND originator_id IN "
                    f"({','.join('?' * len(chunk))})", chunk):
                names[ids[oid]] = _registered_name(topic, state)
        return names


def _registered_name(topic: str, state: bytes) -> str:
    if topic != PERSON_REGISTERED_TOPIC:
        raise Unreadable(f"a person's first event is {topic}")
    try:
        name = json.loads(inflate(bytes(state))).get("name")
    except (ValueError, AttributeError) as e:
        raise Unreadable(f"a registration does not read as JSON: {e}") from e
    if not isinstance(name, str):
        raise Unreadable("a registration names no one")
    return name
