"""The views' store: their tables in one SQLAlchemy database, each view's tracked position,
and the batch write of a catch-up (an eventsourcing `TrackingRecorder`).

Atomicity. Each batch is one `engine.begin()` transaction that first moves every view's tracking
row from the position it was read at to the batch's last position (a compare-and-set: `UPDATE
... WHERE view = ? AND position = ?`, which must touch exactly one row), then writes the rows.
Any failure rolls back both, so the rows and the position can never disagree; a concurrent
catch-up that got there first makes the compare-and-set fail (`ViewConflict`), the batch is
rolled back and the catch-up starts again from the positions now recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.engine import Connection, Dialect

from domain.errors import cause_of
from domain.policy_book import PolicyBook
from projections import tables as t
from projections.personal import PLAIN, PersonalData
from projections.sql import Prepared, one_creator_at_a_time

if TYPE_CHECKING:
    from projections.rows import Batch


class ViewsDamaged(Exception):
    """The views met an event they cannot apply: the store may be damaged (ADR 47). The views
    stop just before it; nothing of it is written."""

    def __init__(self, position: int, cause: BaseException) -> None:
        super().__init__(f"the views cannot apply the event at position {position} "
                         f"({cause_of(cause)}); the store may be "
                         "damaged: run `benefitpool audit verify`")
        self.position = position


class ViewConflict(Exception):
    """Another catch-up moved a view's tracked position first; this batch was rolled back."""


def _insert_for(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _execute(conn: Connection, statement: Prepared, rows: Sequence[dict[str, Any]]) -> None:
    """Execute one statement for many rows (executemany). Tests inject failures here."""
    if rows:
        statement.execute_many(conn, rows)


class _Statements:
    """The batch writes, built once per dialect."""

    def __init__(self, dialect: Dialect) -> None:
        insert = _insert_for(dialect.name)

        def upsert_all(table: t.Table) -> Any:
            pk = [c.name for c in table.primary_key.columns]
            ins = insert(table)
            return ins.on_conflict_do_update(
                index_elements=pk,
                set_={c.name: ins.excluded[c.name] for c in table.columns if c.name not in pk})

        def upsert_add(table: t.Table, columns: Iterable[str]) -> Any:
            pk = [c.name for c in table.primary_key.columns]
            ins = insert(table)
            return ins.on_conflict_do_update(
                index_elements=pk, set_={c: table.c[c] + ins.excluded[c] for c in columns})

        def prepared(statement: Any) -> Prepared:
            return Prepared(statement, dialect)

        self.registry = prepared(insert(t.person_registry))
        self.person_year = prepared(insert(t.person_year_version))
        self.household = prepared(upsert_all(t.household_pool))
        self.member = prepared(upsert_all(t.household_member))
        self.claim = prepared(insert(t.claims_journal))
        cj = t.claims_journal
        self.reversal = prepared(update(cj).where(cj.c.claim_id == bindparam("b_claim_id"))
                                 .values(reversed_at=bindparam("b_at"),
                                         reversal_reason=bindparam("b_reason"),
                                         reversal_amount_fen=bindparam("b_amount"),
                                         reversal_position=bindparam("b_pos")))
        self.fund = prepared(upsert_add(t.fund_ledger, ["amount_fen"]))
        self.enrollment = prepared(upsert_add(t.enrollment, ["registered", "enrolled",
                                                             "covered"]))
        self.roster = prepared(insert(t.identity_roster))
        vt = t.view_tracking
        self.positions = prepared(select(vt.c.view, vt.c.position))
        self.advance = update(vt).where(
            vt.c.view == bindparam("b_view"), vt.c.position == bindparam("b_old")).values(
            position=bindparam("b_new"))


class LedgerViews(TrackingRecorder):
    """The views' tables in one SQLAlchemy database, with one tracking row per view."""

    def __init__(self, engine: Engine, book: PolicyBook,
                 application_name: str = "benefitpool",
                 personal: PersonalData = PLAIN) -> None:
        self.engine = engine
        self.book = book
        self.application_name = application_name
        self.personal = personal
        self.statements = _Statements(engine.dialect)
        self._write_conn: Connection | None = None
        self._advancing: dict[str, int] = {}
        self._fiscal: dict[tuple[str, int], int] = {}
        self._pool_policy: dict[tuple[str, int], tuple[int, str | None]] = {}
        self.create_tables()

    # --- schema --------------------------------------------------------------------------

    def create_tables(self, views: Iterable[str] | None = None) -> None:
        names = list(t.VIEWS if views is None else views)
        tables = [t.view_tracking] + [tb for v in names for tb in t.VIEW_TABLES[v]]
        with self.engine.begin() as conn:
            one_creator_at_a_time(conn, "views")
            t.metadata.create_all(conn, tables=tables)
            known = set(conn.execute(select(t.view_tracking.c.view)).scalars())
            missing = [{"view": v, "application": self.application_name, "position": 0}
                       for v in t.VIEWS if v not in known]
            if missing:
                conn.execute(t.view_tracking.insert(), missing)

    def reset(self, views: Iterable[str]) -> None:
        """Drop and recreate the views' tables and set their positions to 0, atomically."""
        names = list(views)
        unknown = [v for v in names if v not in t.VIEW_TABLES]
        if unknown:
            raise ValueError(f"unknown view(s) {', '.join(unknown)}; one of "
                             f"{', '.join(t.VIEWS)}")
        tables = [tb for v in names for tb in t.VIEW_TABLES[v]]
        with self.engine.begin() as conn:
            # The tracking rows first: on SQLite the driver opens the transaction at the first
            # write, and the DDL after it then belongs to the same transaction.
            conn.execute(update(t.view_tracking).where(t.view_tracking.c.view.in_(names))
                         .values(position=0))
            t.metadata.drop_all(conn, tables=tables)
            t.metadata.create_all(conn, tables=tables)

    # --- tracking ------------------------------------------------------------------------

    def positions(self, conn: Connection | None = None) -> dict[str, int]:
        """Each view's tracked position (the notification id up to which it is complete)."""
        read = self.statements.positions
        if conn is None:
            with self.engine.connect() as c:
                rows = read.fetch(c)
        else:
            rows = read.fetch(conn)
        found = dict(rows)
        return {v: found.get(v, 0) for v in t.VIEWS}

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record that views are complete up to `tracking`: inside a batch's transaction the
        views that batch advances (compare-and-set), otherwise every view."""
        if self._write_conn is not None:
            self._advance(self._write_conn, self._advancing, tracking.notification_id)
            return
        with self.engine.begin() as conn:
            self._advance(conn, self.positions(conn), tracking.notification_id)

    def _advance(self, conn: Connection, old: dict[str, int], new: int) -> None:
        for view, position in old.items():
            if position >= new:
                continue
            result = conn.execute(self.statements.advance,
                                  {"b_view": view, "b_old": position, "b_new": new})
            if result.rowcount != 1:
                raise ViewConflict(f"view {view} moved past {position} meanwhile")

    def max_tracking_id(self, application_name: str) -> int | None:
        """The position up to which every view is complete (None before the first event)."""
        if application_name != self.application_name:
            return None
        lowest = min(self.positions().values())
        return lowest or None

    # --- policy lookups: only for events recorded before they named their terms ----------

    def pool_policy(self, region: str, year: int) -> tuple[int, str | None]:
        """(per-person outpatient cap in fen, policy ref) in force for a region and year: the
        terms of a household formed before `Household.Formed` named them (ADR 29)."""
        key = (region, year)
        if key not in self._pool_policy:
            policy = self.book.find(region, year)
            self._pool_policy[key] = ((policy.outpatient.per_person_cap.fen, policy.ref)
                                      if policy else (0, None))
        return self._pool_policy[key]

    def fiscal(self, region: str, year: int) -> int:
        """The fiscal part in force for a region and year: the terms of an enrollment recorded
        before `Person.Enrolled` named them (ADR 29)."""
        key = (region, year)
        if key not in self._fiscal:
            policy = self.book.find(region, year)
            self._fiscal[key] = policy.contribution.fiscal.fen if policy else 0
        return self._fiscal[key]

    # --- the batch write -----------------------------------------------------------------

    def write(self, conn: Connection, batch: Batch, advancing: dict[str, int],
              tracking: Tracking) -> None:
        """In the caller's transaction: move the tracked positions, then write the rows."""
        self._write_conn, self._advancing = conn, advancing
        try:
            self.insert_tracking(tracking)
        finally:
            self._write_conn, self._advancing = None, {}
        s = self.statements
        _execute(conn, s.registry, batch.registry)
        _execute(conn, s.person_year, batch.person_years)
        _execute(conn, s.household, batch.household_rows())
        _execute(conn, s.member, batch.member_rows())
        _execute(conn, s.claim, list(batch.claims.values()))
        _execute(conn, s.reversal, batch.reversals)
        _execute(conn, s.fund, [
            {"region": r, "year": y, "item": i, "key": k, "amount_fen": a}
            for (r, y, i, k), a in batch.fund.items()])
        _execute(conn, s.enrollment, [
            {"region": r, "year": y, "identity": i, "registered": c[0], "enrolled": c[1],
             "covered": c[2]} for (r, y, i), c in batch.enrollment.items()])
        _execute(conn, s.roster, batch.roster)
