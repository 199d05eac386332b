"""What a SQLite store takes on disk, with and without SQLite's `dbstat` table."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from adapters.stores.footprint import EVENT_STORE, VIEWS, WHOLE_FILE, _sqlite


class WithoutDbstat:
    """A connection to a SQLite built without the dbstat table."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if "dbstat" in sql:
            raise sqlite3.OperationalError("no such table: dbstat")
        return self.db.execute(sql, params)


def a_store(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
               "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))")
    db.execute("CREATE TABLE household_pool (head TEXT PRIMARY KEY, used INTEGER)")
    db.executemany("INSERT INTO stored_events VALUES (?,?,?,?)",
                   [(f"{i:032x}", 1, "t:A" if i % 3 else "t:B", b"x" * 100)
                    for i in range(300)])
    db.commit()
    return db


def test_the_bytes_of_each_table_and_index_are_read_from_dbstat(tmp_path: Path) -> None:
    found = _sqlite(a_store(tmp_path / "s.db"), "stored_events", 50)
    assert found.measured_by == "dbstat"
    parts = {r.name: (r.part, r.kind, r.table) for r in found.relations}
    assert parts["stored_events"] == (EVENT_STORE, "table", "stored_events")
    assert parts["sqlite_autoindex_stored_events_1"] == (EVENT_STORE, "index",
                                                         "stored_events")
    assert parts["household_pool"][0] == VIEWS
    assert found.events_by_topic == (("t:A", 200), ("t:B", 100))
    assert found.stored_state_bytes == 300 * 100
    assert len(found.sample) == 50


def test_without_dbstat_the_whole_file_is_counted_from_its_pages(tmp_path: Path) -> None:
    db = a_store(tmp_path / "s.db")
    found = _sqlite(WithoutDbstat(db), "stored_events", 1000)  # type: ignore[arg-type]
    assert found.measured_by == "page counts"
    assert [r.name for r in found.relations] == [WHOLE_FILE]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    assert found.relations[0].bytes == pages * db.execute("PRAGMA page_size").fetchone()[0]
    assert len(found.sample) == 300
