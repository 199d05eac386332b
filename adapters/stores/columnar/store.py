"""The columnar claims store: one DuckDB file holding what the fast what-if reads (ADR 50).

Tables: `households` (id, region, year, head, per-person cap), `members` (each member's
coverage timeline as log positions, as `household_member` holds it), `claims` (each settled
claim's facts, recorded outcome and reversal position, as `claims_journal` holds them),
`persons` (uuid and the views' pseudonym), `person_years` (each person-year's money, as the
latest row of `person_year_version` holds it) and `meta` (the format, the
application, the log position the rows are complete up to and an anchor: a digest of the
event at that position, so that a file beside another log is recognised). Rows and meta are
written in one DuckDB transaction per batch; the store is a read model, never the source of
truth: anything wrong with it (unreadable, of another format, another log, ahead of the log)
is answered by emptying it and rebuilding from the log, with a note saying why.

Only one process can open a DuckDB file at a time; another gets `ColumnarBusy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from projections.claim_columns import (
    CLAIM_COLUMNS,
    HOUSEHOLD_COLUMNS,
    MEMBER_COLUMNS,
    MEMBER_PATCHED,
    PERSON_COLUMNS,
    PERSON_YEAR_COLUMNS,
    ColumnarBatch,
)

FORMAT = "3"  # 3: households hold their head and per-person cap (ADR 102)
FILE = "claims.duckdb"

_TEXT, _INT, _BIG, _DATE = pa.string(), pa.int32(), pa.int64(), pa.date32()
SCHEMAS = {
    "households": pa.schema(list(zip(HOUSEHOLD_COLUMNS, (_TEXT, _TEXT, _INT, _BIG, _BIG,
                                                         _TEXT, _BIG), strict=True))),
    "members": pa.schema(list(zip(MEMBER_COLUMNS, (_TEXT, _TEXT, _TEXT, _DATE, _DATE, _BIG,
                                                   _BIG, _BIG, _BIG, _BIG, _BIG),
                                  strict=True))),
    "claims": pa.schema(list(zip(CLAIM_COLUMNS, (
        _TEXT, _TEXT, _TEXT, _DATE, pa.int16(), _TEXT, _BIG, _TEXT, _BIG, _BIG, _BIG, _BIG,
        _BIG, _BIG, _TEXT, _TEXT, _BIG, _BIG, _BIG, _BIG), strict=True))),
    "persons": pa.schema(list(zip(PERSON_COLUMNS, (_TEXT, _TEXT), strict=True))),
    "person_years": pa.schema(list(zip(PERSON_YEAR_COLUMNS, (
        _TEXT, _INT, _TEXT, _BIG, _BIG, _BIG, _BIG, pa.bool_(), pa.bool_(), _TEXT, _BIG),
        strict=True))),
}
_SQL_TYPES = {_TEXT: "VARCHAR", _INT: "INTEGER", _BIG: "BIGINT", _DATE: "DATE",
              pa.int16(): "SMALLINT", pa.bool_(): "BOOLEAN"}


class ColumnarBusy(Exception):
    """Another process has the columnar store open."""


class ColumnarFailed(Exception):
    """DuckDB failed under a catch-up or a read (a full disk, a damaged page): what was being
    written is rolled back; the caller reads the views instead."""


def _create(con: duckdb.DuckDBPyConnection, application: str) -> None:
    for name, schema in SCHEMAS.items():
        columns = ", ".join(f"{f.name} {_SQL_TYPES[f.type]}" for f in schema)
        con.execute(f"CREATE OR REPLACE TABLE {name} ({columns})")
    con.execute("CREATE OR REPLACE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("format", FORMAT), ("application", application), ("position", "0"), ("anchor", "")])


def _table(name: str, rows: list[Any]) -> pa.Table:
    schema = SCHEMAS[name]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)],
                    schema=schema)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.rollback()
    except duckdb.Error:  # the failed statement already ended the transaction
        pass


class ColumnarStore:
    """The DuckDB file at `path` (None: in memory, for a store in memory), opened for one
    application's log. `notes` says what was found wrong and rebuilt."""

    def __init__(self, path: Path | None, application: str, threads: int | None = None
                 ) -> None:
        self.path = path
        self.application = application
        self.threads = threads
        self.notes: list[str] = []
        self.con = self._connect()
        try:
            self._check()
        except duckdb.Error as e:
            self._discard(f"it could not be read ({type(e).__name__})")

    def __str__(self) -> str:
        return f"the columnar store at {self.path}" if self.path else "the columnar store"

    # --- opening ------------------------------------------------------------------------

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.path is None:
            return self._configured(duckdb.connect(":memory:"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._configured(duckdb.connect(str(self.path)))
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise ColumnarBusy(f"another process has {self} open") from None
            return self._replaced(e)
        except duckdb.Error as e:
            return self._replaced(e)

    def _configured(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        return con

    def _replaced(self, cause: BaseException) -> duckdb.DuckDBPyConnection:
        """A file DuckDB cannot open: removed (with its write-ahead log) and started anew."""
        self.notes.append(f"{self} could not be opened ({type(cause).__name__}); rebuilt "
                          "from the log")
        for path in (self.path, Path(f"{self.path}.wal")):
            path.unlink(missing_ok=True)
        return self._configured(duckdb.connect(str(self.path)))

    def _check(self) -> None:
        tables = {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        if "meta" not in tables:
            _create(self.con, self.application)
            return
        meta = self.meta()
        if meta.get("format") != FORMAT or not set(SCHEMAS) <= tables:
            self.reset(f"it has format {meta.get('format')!r}, not {FORMAT!r}")
        elif meta.get("application") != self.application:
            self.reset(f"it belongs to application {meta.get('application')!r}")

    def _discard(self, reason: str) -> None:
        self.con.close()
        if self.path is not None:
            for path in (self.path, Path(f"{self.path}.wal")):
                path.unlink(missing_ok=True)
        self.con = self._connect()
        _create(self.con, self.application)
        self.notes.append(f"{self}: {reason}; rebuilt from the log")

    def reset(self, reason: str | None = None) -> None:
        """Empty every table and go back to position 0 (`reason`: noted)."""
        try:
            _create(self.con, self.application)
        except duckdb.Error as e:
            self._discard(f"it could not be emptied ({type(e).__name__})")
            return
        if reason:
            self.notes.append(f"{self}: {reason}; rebuilt from the log")

    def close(self) -> None:
        self.con.close()

    # --- position -----------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return dict(self.con.execute("SELECT key, value FROM meta").fetchall())

    @property
    def position(self) -> int:
        return int(self.meta()["position"])

    @property
    def anchor(self) -> str:
        return self.meta()["anchor"]

    # --- writing ------------------------------------------------------------------------

    def write(self, batch: ColumnarBatch, position: int, anchor: str) -> None:
        """One batch's rows and the position (and anchor) they reach, in one transaction."""
        con = self.con
        con.begin()
        try:
            if batch.households:
                self._insert_households(batch.households)
            if batch.member_patches:
                self._patch_members(batch.member_patches)
            if batch.members:
                rows = _table("members", list(batch.members.values()))
                con.register("staged", rows)
                con.execute("DELETE FROM members USING staged s WHERE members.household_id "
                            "= s.household_id AND members.person = s.person")
                con.execute("INSERT INTO members SELECT * FROM staged")
                con.unregister("staged")
            if batch.persons:
                self._insert("persons", batch.persons)
            if batch.person_years:
                con.register("staged", _table("person_years", list(batch.person_years.values())))
                con.execute("DELETE FROM person_years USING staged s WHERE "
                            "person_years.person_uuid = s.person_uuid AND "
                            "person_years.year = s.year")
                con.execute("INSERT INTO person_years SELECT * FROM staged")
                con.unregister("staged")
            if batch.claims:
                self._insert("claims", list(batch.claims.values()))
            if batch.reversals:
                con.register("staged", pa.table({
                    "claim_id": pa.array(list(batch.reversals), _TEXT),
                    "position": pa.array(list(batch.reversals.values()), _BIG)}))
                con.execute("UPDATE claims SET reversal_position = s.position FROM staged s "
                            "WHERE claims.claim_id = s.claim_id")
                con.unregister("staged")
            con.executemany("UPDATE meta SET value = ? WHERE key = ?",
                            [(str(position), "position"), (anchor, "anchor")])
            con.commit()
        except duckdb.Error as e:
            _rollback(con)
            raise ColumnarFailed(f"{self} could not be written ({type(e).__name__}: {e})"
                                 ) from e
        except BaseException:
            _rollback(con)
            raise

    def person_years_for(self, keys: set[tuple[str, int]]) -> list[tuple[Any, ...]]:
        """The stored rows of these person-years (person uuid, year)."""
        if not keys:
            return []
        self.con.register("wanted", pa.table({
            "person_uuid": pa.array([k[0] for k in keys], _TEXT),
            "year": pa.array([k[1] for k in keys], _INT)}))
        try:
            return self.con.execute("SELECT p.* FROM person_years p JOIN wanted w USING "
                                    "(person_uuid, year)").fetchall()
        finally:
            self.con.unregister("wanted")

    def claims_held(self, claim_ids: set[str]) -> set[str]:
        """Which of these claim ids the store holds a row of."""
        if not claim_ids:
            return set()
        self.con.register("wanted", pa.table({"claim_id": pa.array(list(claim_ids), _TEXT)}))
        try:
            return {r[0] for r in self.con.execute(
                "SELECT c.claim_id FROM claims c JOIN wanted w USING (claim_id)").fetchall()}
        finally:
            self.con.unregister("wanted")

    def _insert_households(self, rows: list[Any]) -> None:
        """New households, refused (`ColumnarFailed`) when one's integer key is already taken
        (ADR 78): the reads join on those keys."""
        self.con.register("staged", _table("households", rows))
        try:
            clash = self.con.execute(
                "SELECT (SELECT count(*) FROM staged s JOIN households h USING (hkey)) + "
                "(SELECT count(*) - count(DISTINCT hkey) FROM staged)").fetchall()[0][0]
            if clash:
                raise ColumnarFailed(f"{self} cannot hold this log: two households share an "
                                     "integer key (ADR 78); the views answer instead")
            self.con.execute("INSERT INTO households SELECT * FROM staged")
        finally:
            self.con.unregister("staged")

    def _insert(self, name: str, rows: list[Any]) -> None:
        self.con.register("staged", _table(name, rows))
        self.con.execute(f"INSERT INTO {name} SELECT * FROM staged")
        self.con.unregister("staged")

    def _patch_members(self, patches: dict[tuple[str, str], dict[str, Any]]) -> None:
        keys = list(patches)
        columns = {"household_id": pa.array([k[0] for k in keys], _TEXT),
                   "person": pa.array([k[1] for k in keys], _TEXT)}
        types = dict(zip(MEMBER_COLUMNS, SCHEMAS["members"].types, strict=True))
        for name in MEMBER_PATCHED:
            columns[name] = pa.array([patches[k].get(name) for k in keys], types[name])
        self.con.register("staged", pa.table(columns))
        sets = ", ".join(f"{c} = COALESCE(s.{c}, members.{c})" for c in MEMBER_PATCHED)
        self.con.execute(f"UPDATE members SET {sets} FROM staged s WHERE members.household_id "
                         "= s.household_id AND members.person = s.person")
        self.con.unregister("staged")
