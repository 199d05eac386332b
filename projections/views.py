"""The read models, fed from the application's notification log.

`LedgerViews` is the materialised view (an eventsourcing `TrackingRecorder` over SQL tables
written through SQLAlchemy); `ViewProjection` is the `Projection` whose handlers fold decoded
domain events into in-memory row buffers; `catch_up` is the loop that reads the log after the
tracked position (SQLite has no subscriptions), folds a batch and writes the batch's rows and the
new tracked positions in ONE database transaction.

Atomicity. Each batch is one `engine.begin()` transaction that first moves every view's tracking
row from the position it was read at to the batch's last position (a compare-and-set: `UPDATE
... WHERE view = ? AND position = ?`, which must touch exactly one row), then writes the rows.
Any failure rolls back both, so the rows and the position can never disagree; a concurrent
catch-up that got there first makes the compare-and-set fail, the batch is rolled back and the
loop starts again from the positions now recorded. The in-memory state of a catch-up lives in
its `ViewProjection` and is discarded with it whenever a batch fails.

Views and their positions. Each view (`tables.VIEWS`) has its own tracking row, so one view can
be rebuilt alone. A catch-up reads from the lowest position and every view takes only the
events after its own position. State that must be known before the batch is loaded from the
tables: immutable facts (who a person uuid is, a household's head, year and region) from any
view that has them; the person-year state from `person_year_version` at the catch-up's starting
position (the table is temporal, so this is exact whichever view is behind); a household's row
and members from `household_pool`/`household_member`, to which only events after that view's
own position are applied.

Persons. Every person column holds `personal.pseudonym(person key)` and the registry's number
and birth date are `personal.seal`ed (`projections.personal`, ADR 21); the projection works in
pseudonyms throughout. With the default `PLAIN` codec the pseudonym is the person key itself.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic
from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.engine import Connection, Dialect

from domain.aggregates import Household, Person
from domain.policy_book import PolicyBook
from projections import tables as t
from projections.personal import PLAIN, PersonalData
from projections.sql import Prepared

HANDLED = (
    Person.Registered, Person.Enrolled, Person.ContributionPaid, Person.SubsidyGranted,
    Person.Refunded, Household.Formed, Household.MemberJoined, Household.MemberCovered,
    Household.MemberSuspended, Household.MemberLeft, Household.OutpatientClaimSettled,
    Household.ClaimReversed,
)
#: The event topics the views read; the index aggregates' events and employee-insurance reports
#: (whose effect on the pool is the household's MemberSuspended) are not even selected.
TOPICS: tuple[str, ...] = tuple(get_topic(cls) for cls in HANDLED)

PERSON_EVENTS = (Person.Enrolled, Person.ContributionPaid, Person.SubsidyGranted,
                 Person.Refunded)
HOUSEHOLD_EVENTS = (Household.MemberJoined, Household.MemberCovered,
                    Household.MemberSuspended, Household.MemberLeft,
                    Household.OutpatientClaimSettled, Household.ClaimReversed)

_REGISTERED, _PERSON, _FORMED, _HOUSEHOLD = range(4)
_KIND: dict[type, int] = {Person.Registered: _REGISTERED, Household.Formed: _FORMED,
                          **dict.fromkeys(PERSON_EVENTS, _PERSON),
                          **dict.fromkeys(HOUSEHOLD_EVENTS, _HOUSEHOLD)}

IN_CHUNK = 500
MAX_CONFLICTS = 10


class ViewConflict(Exception):
    """Another catch-up moved a view's tracked position first; this batch was rolled back."""


class NotificationLog(Protocol):
    """What the views need of an eventsourcing Application (duck-typed)."""

    name: str
    recorder: Any
    mapper: Any


# --- SQL ------------------------------------------------------------------------------------------


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
        vt = t.view_tracking
        self.positions = prepared(select(vt.c.view, vt.c.position))
        self.advance = update(vt).where(
            vt.c.view == bindparam("b_view"), vt.c.position == bindparam("b_old")).values(
            position=bindparam("b_new"))


# --- the materialised view ------------------------------------------------------------------


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

    # --- policy lookups (the views' only use of the policy book) ---------------------------

    def pool_policy(self, region: str, year: int) -> tuple[int, str | None]:
        """(per-person outpatient cap in fen, policy ref) in force for a region and year."""
        key = (region, year)
        if key not in self._pool_policy:
            policy = self.book.find(region, year)
            self._pool_policy[key] = ((policy.outpatient.per_person_cap.fen, policy.ref)
                                      if policy else (0, None))
        return self._pool_policy[key]

    def fiscal(self, region: str, year: int) -> int:
        key = (region, year)
        if key not in self._fiscal:
            policy = self.book.find(region, year)
            self._fiscal[key] = policy.contribution.fiscal.fen if policy else 0
        return self._fiscal[key]

    # --- the batch write -----------------------------------------------------------------

    def write(self, conn: Connection, batch: _Batch, advancing: dict[str, int],
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


# --- the projection -------------------------------------------------------------------------


class _PY:
    """A person-year's state as the views fold it (mirrors `PersonYear`)."""

    __slots__ = ("region", "head", "category", "identity", "basis", "due", "subsidy", "paid",
                 "refunded", "covered_from", "terminated", "rule")

    @classmethod
    def from_row(cls, row: Any) -> _PY:
        s = cls()
        s.region, s.head, s.category = row.region, row.household_head, row.category
        s.identity, s.basis = row.identity, row.subsidy_basis
        s.due, s.subsidy, s.paid, s.refunded = (row.due_fen, row.subsidy_fen, row.paid_fen,
                                                row.refunded_fen)
        s.covered_from, s.terminated, s.rule = row.covered_from, row.terminated, row.rule
        return s


class _Batch:
    """The rows one batch writes."""

    def __init__(self) -> None:
        self.registry: list[dict[str, Any]] = []
        self.person_years: list[dict[str, Any]] = []
        self.households: dict[str, dict[str, Any]] = {}
        self.members: dict[tuple[str, str], dict[str, Any]] = {}
        self.claims: dict[str, dict[str, Any]] = {}
        self.reversals: list[dict[str, Any]] = []
        self.fund: defaultdict[tuple[str, int, str, str], int] = defaultdict(int)
        self.enrollment: defaultdict[tuple[str, int, str], list[int]] = defaultdict(
            lambda: [0, 0, 0])

    def household_rows(self) -> list[dict[str, Any]]:
        return list(self.households.values())

    def member_rows(self) -> list[dict[str, Any]]:
        return list(self.members.values())


_DAYS: dict[int, str] = {}


def _day(at: Any) -> str:
    """The business date of a timestamp, as ISO text (cached: few distinct days recur)."""
    ordinal = at.toordinal()
    day = _DAYS.get(ordinal)
    if day is None:
        day = _DAYS[ordinal] = at.date().isoformat()
    return day


def _iso(d: Any) -> str | None:
    return None if d is None else d.isoformat()


class ViewProjection(Projection[LedgerViews]):
    """Folds the ledger's events into the views' rows, one batch at a time."""

    name = "benefitpool_views"
    topics = TOPICS

    def __init__(self, view: LedgerViews, positions: dict[str, int]) -> None:
        super().__init__(view)
        self.positions = dict(positions)
        self.pseudonym = view.personal.pseudonym
        self.seal = view.personal.seal
        self._set_positions()
        # facts that never change once recorded
        # (aggregate ids as `UUID.int`: hashing and comparing UUID objects is slow Python)
        self.person_keys: dict[int, str] = {}  # pseudonyms
        self.households: dict[int, tuple[str, int, str, str]] = {}  # head, year, region, id
        # the person-year working state, at the position of the last event folded
        self.persons_loaded: set[int] = set()
        self.person_years: dict[tuple[str, int], _PY] = {}
        # household_pool rows and their members, at household_pool's own position
        self.pool_loaded: set[int] = set()
        self.pool_rows: dict[int, dict[str, Any]] = {}
        self.pool_members: dict[int, dict[str, dict[str, Any]]] = {}
        self.batch = _Batch()

    def _set_positions(self) -> None:
        p = self.positions
        self.p_person = p["person_year"]
        self.p_pool = p["household_pool"]
        self.p_claims = p["claims_journal"]
        self.p_fund = p["fund_ledger"]
        self.p_enroll = p["enrollment"]

    def advance(self, end: int) -> dict[str, int]:
        """The views a batch ending at `end` moves, with their old positions."""
        return {v: p for v, p in self.positions.items() if p < end}

    def advanced(self, end: int) -> None:
        for v, p in self.positions.items():
            if p < end:
                self.positions[v] = end
        self._set_positions()
        self.batch = _Batch()

    # --- loading what a batch needs ----------------------------------------------------

    def prefetch(self, conn: Connection, events: Sequence[tuple[Any, Tracking]],
                 start: int) -> None:
        persons: set[int] = set()
        households: set[int] = set()
        formed: set[int] = set()
        persons_loaded, pool_loaded, facts = self.persons_loaded, self.pool_loaded, self.households
        for e, tracking in events:
            oid = e.originator_id.int
            kind = _KIND[type(e)]
            if kind == _PERSON:
                if oid not in persons_loaded:
                    persons.add(oid)
            elif kind == _HOUSEHOLD:
                if oid not in pool_loaded or (oid not in facts and oid not in formed):
                    households.add(oid)
            elif kind == _REGISTERED:
                persons_loaded.add(oid)
            else:
                formed.add(oid)
                if tracking.notification_id > self.p_pool:  # new to household_pool too
                    pool_loaded.add(oid)
        if persons:
            self._load_persons(conn, persons, start)
        if households:
            self._load_households(conn, households)

    def _load_persons(self, conn: Connection, ids: set[int], start: int) -> None:
        reg, pyv = t.person_registry, t.person_year_version
        keys: list[str] = []
        for chunk in _chunks([str(UUID(int=i)) for i in ids]):
            for uuid_text, key in conn.execute(
                    select(reg.c.person_uuid, reg.c.person).where(reg.c.person_uuid.in_(chunk))):
                self.person_keys[UUID(uuid_text).int] = key
                keys.append(key)
        for chunk in _chunks(keys):
            rows = conn.execute(select(pyv).where(pyv.c.person.in_(chunk),
                                                  pyv.c.position <= start)
                                .order_by(pyv.c.person, pyv.c.year, pyv.c.position))
            for row in rows:  # the last row of each person-year wins
                self.person_years[(row.person, row.year)] = _PY.from_row(row)
        self.persons_loaded.update(ids)

    def _load_households(self, conn: Connection, ids: set[int]) -> None:
        hp, hm = t.household_pool, t.household_member
        texts = [str(UUID(int=i)) for i in ids]
        for chunk in _chunks(texts):
            for row in conn.execute(select(hp).where(hp.c.household_id.in_(chunk))):
                hid = UUID(row.household_id).int
                self.households[hid] = (row.head, row.year, row.region, row.household_id)
                self.pool_rows[hid] = row._asdict()
                self.pool_members.setdefault(hid, {})
            for row in conn.execute(select(hm).where(hm.c.household_id.in_(chunk))
                                    .order_by(hm.c.household_id, hm.c.joined_position)):
                self.pool_members.setdefault(UUID(row.household_id).int, {})[row.person] = \
                    row._asdict()
        self.pool_loaded.update(ids)

    # --- the handlers --------------------------------------------------------------------

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events the views do not read change nothing."""

    @process_event.register(Person.Registered)
    def _registered(self, e: Person.Registered, tracking: Tracking) -> None:
        pos = tracking.notification_id
        person = self.person_keys[e.originator_id.int] = self.pseudonym(e.person_key)
        if pos > self.p_person:
            seal = self.seal
            self.batch.registry.append({
                "person_uuid": str(e.originator_id), "person": person,
                "number": seal(e.number), "region": e.region,
                "birth_date": seal(e.birth_date.isoformat()),
                "registered_at": _day(e.at), "position": pos})
        if pos > self.p_enroll:
            self.batch.enrollment[(e.region, e.at.year, "")][0] += 1

    @process_event.register(Person.Enrolled)
    def _enrolled(self, e: Person.Enrolled, tracking: Tracking) -> None:
        key = self.person_keys[e.originator_id.int]
        pos = tracking.notification_id
        old = self.person_years.get((key, e.year))
        self._shift(e.year, old, -1, pos)
        s = _PY()
        s.region, s.head, s.category = e.region, self.pseudonym(e.household_head), e.category
        s.identity, s.basis = e.identity, e.subsidy_basis
        s.due, s.subsidy, s.paid, s.refunded = e.due.fen, e.subsidy.fen, 0, 0
        s.covered_from = _iso(e.covered_from)
        s.terminated = False
        s.rule = f"{e.policy_id}@{e.policy_version}"
        self.person_years[(key, e.year)] = s
        self._person_year_changed(key, e.year, s, pos, e.at, "enrolled", 0, s.covered_from)

    @process_event.register(Person.ContributionPaid)
    def _paid(self, e: Person.ContributionPaid, tracking: Tracking) -> None:
        key = self.person_keys[e.originator_id.int]
        s = self.person_years.get((key, e.year))
        if s is None:
            return
        pos = tracking.notification_id
        self._shift(e.year, s, -1, pos)
        s.paid += e.amount.fen
        covered_from = _iso(e.covered_from)
        if s.covered_from is None and covered_from is not None:
            s.covered_from = covered_from
        if pos > self.p_fund:
            self.batch.fund[(s.region, e.year, "contribution", e.channel)] += e.amount.fen
        self._person_year_changed(key, e.year, s, pos, e.at, "paid", e.amount.fen,
                                  covered_from)

    @process_event.register(Person.SubsidyGranted)
    def _subsidy(self, e: Person.SubsidyGranted, tracking: Tracking) -> None:
        key = self.person_keys[e.originator_id.int]
        s = self.person_years.get((key, e.year))
        if s is None:
            return
        pos = tracking.notification_id
        self._shift(e.year, s, -1, pos)
        s.identity, s.subsidy, s.basis, s.due = (e.identity, e.subsidy.fen, e.subsidy_basis,
                                                 e.due.fen)
        covered_from = _iso(e.covered_from)
        if s.covered_from is None and covered_from is not None:
            s.covered_from = covered_from
        self._person_year_changed(key, e.year, s, pos, e.at, "subsidy", 0, covered_from)

    @process_event.register(Person.Refunded)
    def _refunded(self, e: Person.Refunded, tracking: Tracking) -> None:
        key = self.person_keys[e.originator_id.int]
        s = self.person_years.get((key, e.year))
        if s is None:
            return
        pos = tracking.notification_id
        self._shift(e.year, s, -1, pos)
        s.refunded += e.amount.fen
        if e.terminated:
            s.terminated = True
            s.covered_from = None
        if pos > self.p_fund:
            self.batch.fund[(s.region, e.year, "refund", e.reason)] += e.amount.fen
        self._person_year_changed(key, e.year, s, pos, e.at,
                                  "terminated" if e.terminated else "refunded", e.amount.fen,
                                  None)

    def _shift(self, year: int, s: _PY | None, sign: int, pos: int) -> None:
        """Add (sign 1) or remove (sign -1) a person-year's share of the fund and enrollment
        views: its subsidy, its fiscal subsidy due and its enrolled/covered counts."""
        if s is None or s.terminated:
            return
        covered = s.covered_from is not None
        if pos > self.p_enroll:
            counts = self.batch.enrollment[(s.region, year, s.identity or "")]
            counts[1] += sign
            if covered:
                counts[2] += sign
        if pos > self.p_fund:
            if s.subsidy:
                self.batch.fund[(s.region, year, "subsidy", s.basis or s.identity or "")] += \
                    sign * s.subsidy
            if covered:
                self.batch.fund[(s.region, year, "fiscal_due", "")] += \
                    sign * self.view.fiscal(s.region, year)

    def _person_year_changed(self, key: str, year: int, s: _PY, pos: int, at: Any, kind: str,
                             amount: int, event_covered_from: str | None) -> None:
        self._shift(year, s, 1, pos)
        if pos > self.p_person:
            self.batch.person_years.append({
                "person": key, "year": year, "position": pos, "at": _day(at), "kind": kind,
                "amount_fen": amount, "event_covered_from": event_covered_from,
                "region": s.region, "household_head": s.head, "category": s.category,
                "identity": s.identity, "subsidy_basis": s.basis,
                "enrolled": not s.terminated, "terminated": s.terminated,
                "covered_from": s.covered_from, "due_fen": s.due, "subsidy_fen": s.subsidy,
                "paid_fen": s.paid, "refunded_fen": s.refunded,
                "credit_fen": max(0, s.paid - s.refunded - s.due), "rule": s.rule,
            })

    # households

    @process_event.register(Household.Formed)
    def _formed(self, e: Household.Formed, tracking: Tracking) -> None:
        hid, pos, text = e.originator_id.int, tracking.notification_id, str(e.originator_id)
        head = self.pseudonym(e.head)
        self.households[hid] = (head, e.year, e.region, text)
        if pos > self.p_pool:
            cap_each, rule = self.view.pool_policy(e.region, e.year)
            row = {"household_id": text, "head": head, "year": e.year,
                   "region": e.region, "formed_at": _day(e.at), "formed_position": pos,
                   "rule": rule, "cap_each_fen": cap_each, "members": 0, "covered": 0,
                   "cap_fen": 0, "used_fen": 0, "claim_count": 0, "position": pos}
            self.pool_rows[hid] = row
            self.pool_members[hid] = {}
            self.batch.households[row["household_id"]] = row

    def _pool(self, hid: int, pos: int) -> dict[str, Any] | None:
        """The household's row, marked as written by this batch (None: not this view's)."""
        if pos <= self.p_pool:
            return None
        row = self.pool_rows.get(hid)
        if row is not None:
            row["position"] = pos
            self.batch.households[row["household_id"]] = row
        return row

    def _member_changed(self, hid: int, row: dict[str, Any], member: dict[str, Any]) -> None:
        members = self.pool_members[hid]
        row["members"] = sum(1 for m in members.values() if m["left_position"] is None)
        row["covered"] = sum(1 for m in members.values() if m["covered_position"] is not None
                             and m["suspended_position"] is None
                             and m["left_position"] is None)
        row["cap_fen"] = row["cap_each_fen"] * row["covered"]
        self.batch.members[(row["household_id"], member["person"])] = member

    @process_event.register(Household.MemberJoined)
    def _joined(self, e: Household.MemberJoined, tracking: Tracking) -> None:
        pos = tracking.notification_id
        hid = e.originator_id.int
        row = self._pool(hid, pos)
        if row is None:
            return
        person = self.pseudonym(e.person)
        member = {"household_id": row["household_id"], "person": person,
                  "region": e.region, "joined_at": _day(e.at), "joined_position": pos,
                  "covered_from": None, "covered_to": None, "covered_at": None,
                  "covered_position": None, "suspended_at": None, "suspended_position": None,
                  "left_at": None, "left_position": None}
        self.pool_members[hid][person] = member
        self._member_changed(hid, row, member)

    def _member_event(self, e: Any, tracking: Tracking, **fields: Any) -> None:
        pos = tracking.notification_id
        hid = e.originator_id.int
        row = self._pool(hid, pos)
        if row is None:
            return
        member = self.pool_members[hid].get(self.pseudonym(e.person))
        if member is None:
            return
        member.update(fields)
        self._member_changed(hid, row, member)

    @process_event.register(Household.MemberCovered)
    def _covered(self, e: Household.MemberCovered, tracking: Tracking) -> None:
        self._member_event(e, tracking, covered_from=e.covered_from.isoformat(),
                           covered_to=e.covered_to.isoformat(), covered_at=_day(e.at),
                           covered_position=tracking.notification_id)

    @process_event.register(Household.MemberSuspended)
    def _suspended(self, e: Household.MemberSuspended, tracking: Tracking) -> None:
        self._member_event(e, tracking, suspended_at=_day(e.at),
                           suspended_position=tracking.notification_id)

    @process_event.register(Household.MemberLeft)
    def _left(self, e: Household.MemberLeft, tracking: Tracking) -> None:
        self._member_event(e, tracking, left_at=_day(e.at),
                           left_position=tracking.notification_id)

    @process_event.register(Household.OutpatientClaimSettled)
    def _settled(self, e: Household.OutpatientClaimSettled, tracking: Tracking) -> None:
        hid, pos = e.originator_id.int, tracking.notification_id
        head, year, region, text = self.households[hid]
        reimbursed = e.reimbursed.fen
        row = self._pool(hid, pos)
        if row is not None:
            row["used_fen"] += reimbursed
            row["claim_count"] += 1
        if pos > self.p_claims:
            self.batch.claims[e.claim_id] = {
                "claim_id": e.claim_id, "household_id": text, "head": head, "year": year,
                "region": region, "person": self.pseudonym(e.person),
                "visit_date": e.visit_date.isoformat(),
                "at": _day(e.at), "settled_at": e.at.isoformat(),
                "facility_level": e.facility_level, "facility_region": e.facility_region,
                "expense_fen": e.expense.fen, "cause": e.cause, "pooling": e.pooling,
                "eligible_fen": e.eligible_expense.fen, "reimbursable_fen": e.reimbursable.fen,
                "reimbursed_fen": reimbursed, "pool_cap_fen": e.pool_cap.fen,
                "pool_used_before_fen": e.pool_used_before.fen,
                "pool_remaining_after_fen": e.pool_remaining_after.fen,
                "policy_id": e.policy_id, "policy_version": e.policy_version,
                "explanation": e.explanation, "position": pos, "reversed_at": None,
                "reversal_reason": None, "reversal_amount_fen": None,
                "reversal_position": None,
            }
        if pos > self.p_fund:
            self.batch.fund[(region, year, "reimbursement", "settled")] += reimbursed

    @process_event.register(Household.ClaimReversed)
    def _reversed(self, e: Household.ClaimReversed, tracking: Tracking) -> None:
        hid, pos = e.originator_id.int, tracking.notification_id
        _, year, region, _ = self.households[hid]
        amount = e.amount.fen
        row = self._pool(hid, pos)
        if row is not None:
            row["used_fen"] -= amount
        if pos > self.p_claims:
            fields = {"reversed_at": _day(e.at), "reversal_reason": e.reason,
                      "reversal_amount_fen": amount, "reversal_position": pos}
            claim = self.batch.claims.get(e.claim_id)
            if claim is not None:
                claim.update(fields)
            else:
                self.batch.reversals.append({
                    "b_claim_id": e.claim_id, "b_at": fields["reversed_at"],
                    "b_reason": e.reason, "b_amount": amount, "b_pos": pos})
        if pos > self.p_fund:
            self.batch.fund[(region, year, "reimbursement", "reversed")] -= amount


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), IN_CHUNK):
        yield items[i:i + IN_CHUNK]


# --- driving it -----------------------------------------------------------------------------


def catch_up(app: NotificationLog, views: LedgerViews, batch_size: int = 1000,
             stop: int | None = None, freeze_gc: bool = False) -> int:
    """Bring every view up to the log's head (or to `stop`); returns the position reached by
    all views. Each batch is one transaction (rows and tracked positions together); if another
    process advanced the views meanwhile, the batch is rolled back and the catch-up resumes
    from the positions now recorded.

    `freeze_gc` moves everything alive after each batch out of the cyclic collector's reach
    (`gc.freeze`, as `Ledger.execute_lines` may), so a long rebuild does not rescan its growing
    state; meant for one-off processes (a CLI rebuild), not for a long-lived server."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    for _ in range(MAX_CONFLICTS):
        try:
            return _catch_up(app, views, batch_size, stop, freeze_gc)
        except ViewConflict:
            continue
    raise ViewConflict("the views kept being advanced by another process")


def _catch_up(app: NotificationLog, views: LedgerViews, batch_size: int,
              stop: int | None, freeze_gc: bool) -> int:
    positions = views.positions()
    head = app.recorder.max_notification_id() or 0
    if stop is not None:
        head = min(head, stop)
    start = min(positions.values())
    if start >= head:
        return start
    projection = ViewProjection(views, positions)
    name = app.name
    to_domain_event = app.mapper.to_domain_event
    process = projection.process_event
    while start < head:
        notifications = app.recorder.select_notifications(
            start + 1, batch_size, stop=head, topics=TOPICS)
        end = notifications[-1].id if len(notifications) >= batch_size else head
        events = [(to_domain_event(n), Tracking(name, n.id)) for n in notifications]
        with views.engine.begin() as conn:
            projection.prefetch(conn, events, start)
            for event, tracking in events:
                process(event, tracking)
            views.write(conn, projection.batch, projection.advance(end), Tracking(name, end))
        projection.advanced(end)
        start = end
        if freeze_gc:
            gc.freeze()
    return start


def rebuild(app: NotificationLog, views: LedgerViews, names: Iterable[str] | None = None,
            batch_size: int = 5000, freeze_gc: bool = False) -> int:
    """Drop and recreate the named views (all by default), reset their positions and catch
    up. Views not named keep their rows and only take events past their own position.
    Batches are larger than a catch-up's by default: on a big log the commits (each writing
    the pages its rows touched) are a large share of the time."""
    views.reset(list(t.VIEWS if names is None else names))
    return catch_up(app, views, batch_size, freeze_gc=freeze_gc)


def status(app: NotificationLog, views: LedgerViews) -> list[dict[str, Any]]:
    """Per view: the tracked position, the log's head and how far behind the view is."""
    head = app.recorder.max_notification_id() or 0
    return [{"view": v, "position": p, "head": head, "lag": max(0, head - p)}
            for v, p in views.positions().items()]
