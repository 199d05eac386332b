"""The directory of a deployment: which region each person registered and enrolled in, and
which region holds each claim, consulted by every region's writes (ADR 57).

A person is enrolled in at most one region a year (001: 不允许重复参保). Each region's ledger
keeps that rule for itself; across regions it is kept here: before an enrollment is applied to
a region's ledger, its (person, year) is reserved for that region by an insert under the
table's primary key, which the database lets one writer win. The reservation is confirmed when
the region's ledger accepted the enrollment and released when it refused it. A reservation left
pending by a writer that died is taken over once its lease has passed and its region's ledger
shows no such enrollment.

Persons are named by a keyed pseudonym (`person_ref`), never by their ID number.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from typing import Any

from attrs import frozen
from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from projections.sql import one_creator_at_a_time

PENDING, CONFIRMED = "pending", "confirmed"
#: Keys looked up by one statement (SQLite allows 32,766 parameters; PostgreSQL 65,535).
LOOKUP_BATCH = 500
#: Seconds after which a pending reservation whose region shows no enrollment may be taken.
LEASE_SECONDS = 60

metadata = MetaData()
# On SQLite each table is one B-tree ordered by its primary key (WITHOUT ROWID, ADR 118):
# a rowid table would keep a second B-tree for the key, and a routed file's inserts, at
# random keys, would write the pages of both.
persons = Table(
    "directory_persons", metadata,
    Column("person_ref", String(32), primary_key=True),
    Column("region", String(6), primary_key=True),
    Column("seq", Integer, nullable=False),
    # the last registration's number, read at every note, found without a scan (ADR 118)
    Index("directory_persons_seq", "seq"),
    sqlite_with_rowid=False,
)
enrollments = Table(
    "directory_enrollments", metadata,
    Column("person_ref", String(32), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("region", String(6), nullable=False),
    Column("state", String(9), nullable=False),
    Column("since", Integer, nullable=False),  # unix seconds of the reservation
    sqlite_with_rowid=False,
)
claims = Table(
    "directory_claims", metadata,
    Column("claim_id", String(128), primary_key=True),
    Column("region", String(6), nullable=False),
    sqlite_with_rowid=False,
)


def person_ref(key: bytes, person_key: str) -> str:
    """A person's pseudonym in the directory: HMAC-SHA256 of the person key (128 bits)."""
    return hmac.new(key, person_key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@frozen
class Holder:
    """Who holds a person-year: the region (its prefix) and whether it is confirmed."""

    region: str
    state: str
    since: int


class Directory:
    """The directory's tables on one database (SQLite file or PostgreSQL schema)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._compiled: dict[str, Any] = {}
        # every region's ingest opens the directory; on a new deployment they start together
        with engine.begin() as conn:
            one_creator_at_a_time(conn, "directory")
            metadata.create_all(conn)

    def _insert(self, table: Table) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def _insert_new(self, conn: Any, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows (values in the table's column order) unless their key is there, in
        one statement executed by the driver for all of them: SQLAlchemy's per-row parameter
        processing was a fifth of routing a file (ADR 105)."""
        compiled = self._compiled.get(table.name)
        if compiled is None:
            compiled = self._compiled[table.name] = self._insert(table).on_conflict_do_nothing(
            ).compile(dialect=conn.dialect, column_keys=[c.key for c in table.columns])
        names = [c.key for c in table.columns]
        if compiled.positional:
            order = [names.index(k) for k in compiled.positiontup]
            params: list[Any] = rows if order == list(range(len(names))) else [
                tuple(r[i] for i in order) for r in rows]
        else:
            params = [dict(zip(names, r, strict=True)) for r in rows]
        conn.exec_driver_sql(compiled.string, params)

    def _rows_of(self, conn: Any, table: Table, keys: list[Any]) -> Iterator[tuple[Any, ...]]:
        """The rows of `table` whose primary key begins with one of `keys` (values in the
        table's column order), LOOKUP_BATCH keys a statement, each statement written here and
        executed by the driver: built by SQLAlchemy, a statement's expanding IN list cost a
        router about a sixth of its time (ADR 129)."""
        prep = conn.dialect.identifier_preparer
        columns = ", ".join(prep.quote(c.name) for c in table.columns)
        first = prep.quote(next(iter(table.primary_key.columns)).name)
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        select_from = f"SELECT {columns} FROM {prep.format_table(table)} WHERE {first} IN "
        for i in range(0, len(keys), LOOKUP_BATCH):
            part = keys[i:i + LOOKUP_BATCH]
            yield from conn.exec_driver_sql(
                select_from + "(" + ", ".join([mark] * len(part)) + ")", tuple(part))

    # --- enrollments ------------------------------------------------------------------------

    def holders(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Holder]:
        """Who holds each (person_ref, year) asked about. Looked up by person (the primary
        key's first column, an index search) and the years kept here: SQLite answers a
        (person, year) row-value list by scanning the whole table (ADR 101)."""
        wanted = set(keys)
        refs = sorted({ref for ref, _ in wanted})
        found: dict[tuple[str, int], Holder] = {}
        with self.engine.connect() as conn:
            for ref, year, region, state, since in self._rows_of(conn, enrollments, refs):
                if (ref, year) in wanted:
                    found[(ref, year)] = Holder(region, state, since)
        return found

    def all_holders(self) -> dict[tuple[str, int], Holder]:
        """Every person-year the directory holds (for the deployment's audit)."""
        with self.engine.connect() as conn:
            return {(ref, year): Holder(region, state, since) for ref, year, region, state, since
                    in conn.execute(select(enrollments))}

    def reserve(self, wanted: Iterable[tuple[str, int, str]], now: int
                ) -> dict[tuple[str, int], Holder]:
        """Reserve each (person_ref, year) for its region unless another holds it; returns
        the holder of every key afterwards (the caller's region where it won)."""
        wanted = list(wanted)
        if not wanted:
            return {}
        with self.engine.begin() as conn:
            self._insert_new(conn, enrollments, [(ref, year, region, PENDING, now)
                                                 for ref, year, region in wanted])
        return self.holders((ref, year) for ref, year, _ in wanted)

    def take_over(self, ref: str, year: int, stale: Holder, region: str, now: int) -> bool:
        """Move a pending reservation whose lease has passed to `region`; False if another
        writer changed it first."""
        with self.engine.begin() as conn:
            done = conn.execute(update(enrollments).where(and_(
                enrollments.c.person_ref == ref, enrollments.c.year == year,
                enrollments.c.region == stale.region, enrollments.c.state == PENDING,
                enrollments.c.since == stale.since)).values(region=region, since=now))
            return done.rowcount == 1

    def settle(self, confirmed: Iterable[tuple[str, int, str]],
               released: Iterable[tuple[str, int, str]]) -> None:
        """Confirm the reservations whose enrollment was accepted; release the others."""
        confirmed, released = list(confirmed), list(released)
        e = enrollments.c
        with self.engine.begin() as conn:  # one statement each, executed for many rows
            if confirmed:
                conn.execute(update(enrollments).where(and_(
                    e.person_ref == bindparam("b_ref"), e.year == bindparam("b_year"),
                    e.region == bindparam("b_region"))).values(state=CONFIRMED),
                    [{"b_ref": r, "b_year": y, "b_region": g} for r, y, g in confirmed])
            if released:
                conn.execute(delete(enrollments).where(and_(
                    e.person_ref == bindparam("b_ref"), e.year == bindparam("b_year"),
                    e.region == bindparam("b_region"), e.state == PENDING)),
                    [{"b_ref": r, "b_year": y, "b_region": g} for r, y, g in released])

    # --- registrations and claims -----------------------------------------------------------

    def registered(self, refs: Iterable[str]) -> dict[str, list[str]]:
        """The regions each person registered in, earliest first."""
        found: dict[str, list[tuple[int, str]]] = {}
        with self.engine.connect() as conn:
            for ref, region, seq in self._rows_of(conn, persons, list(set(refs))):
                found.setdefault(ref, []).append((seq, region))
        return {ref: [r for _, r in sorted(v)] for ref, v in found.items()}

    def note(self, registrations: Iterable[tuple[str, str]],
             claims_seen: Iterable[tuple[str, str]] = ()) -> None:
        """Record that persons registered in regions (again: no change) and where claim ids
        were first seen, in one transaction (ADR 118)."""
        registrations, claims_seen = list(registrations), list(claims_seen)
        if not registrations and not claims_seen:
            return
        with self.engine.begin() as conn:
            if registrations:
                seq = conn.execute(select(persons.c.seq).order_by(
                    persons.c.seq.desc()).limit(1)).scalar() or 0
                self._insert_new(conn, persons, [
                    (ref, region, seq + n) for n, (ref, region) in enumerate(registrations,
                                                                               start=1)])
            if claims_seen:
                self._insert_new(conn, claims, claims_seen)

    def claim_regions(self, claim_ids: Iterable[str]) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {cid: region for cid, region
                    in self._rows_of(conn, claims, list(set(claim_ids)))}

    def counts(self) -> dict[str, int]:
        """How many persons, person-years (by state) and claims the directory holds."""
        with self.engine.connect() as conn:
            out = {"persons": conn.execute(
                select(func.count(persons.c.person_ref.distinct()))).scalar_one()}
            for state in (PENDING, CONFIRMED):
                out[f"enrollments_{state}"] = conn.execute(select(func.count()).where(
                    enrollments.c.state == state)).scalar_one()
            out["claims"] = conn.execute(select(func.count()).select_from(claims)).scalar_one()
        return out
