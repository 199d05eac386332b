"""The projection: handlers that fold the ledger's decoded events into a batch of view rows.

State that must be known before a batch is loaded from the tables: immutable facts (who a
person uuid is, a household's head, year and region) from any view that has them; the
person-year state from `person_year_version` at the catch-up's starting position (the table is
temporal, so this is exact whichever view is behind); a household's row and members from
`household_pool`/`household_member`, to which only events after that view's own position are
applied. The in-memory state of a catch-up lives in its `ViewProjection` and is discarded with
it whenever a batch fails.

Persons. Every person column holds `personal.pseudonym(person key)` and the registry's number
and birth date are `personal.seal`ed (`projections.personal`, ADR 21); the projection works in
pseudonyms throughout. With the default `PLAIN` codec the pseudonym is the person key itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic
from sqlalchemy import select
from sqlalchemy.engine import Connection

from domain.aggregates import Household, Person
from domain.money import Money
from domain.rules.outpatient import claim_scope
from domain.rules.pool import counts_for_cap, pool_cap
from domain.rules.standing import credit
from projections import tables as t
from projections.rows import (
    Batch,
    PersonYearState,
    chunks,
    day,
    iso,
    iso_date,
    settled_once,
)
from projections.store import LedgerViews

HANDLED = (
    Person.Registered, Person.IdentityRecognised, Person.Enrolled, Person.ContributionPaid,
    Person.SubsidyGranted, Person.Refunded, Household.Formed, Household.MemberJoined,
    Household.MemberCovered, Household.MemberSuspended, Household.MemberLeft,
    Household.OutpatientClaimSettled, Household.ClaimReversed,
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
                          Person.IdentityRecognised: _PERSON,  # needs the person's key
                          **dict.fromkeys(PERSON_EVENTS, _PERSON),
                          **dict.fromkeys(HOUSEHOLD_EVENTS, _HOUSEHOLD)}



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
        self.person_years: dict[tuple[str, int], PersonYearState] = {}
        # household_pool rows and their members, at household_pool's own position
        self.pool_loaded: set[int] = set()
        self.pool_rows: dict[int, dict[str, Any]] = {}
        self.pool_members: dict[int, dict[str, dict[str, Any]]] = {}
        self.batch = Batch()

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
        self.batch = Batch()

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
        for chunk in chunks([str(UUID(int=i)) for i in ids]):
            for uuid_text, key in conn.execute(
                    select(reg.c.person_uuid, reg.c.person).where(reg.c.person_uuid.in_(chunk))):
                self.person_keys[UUID(uuid_text).int] = key
                keys.append(key)
        for chunk in chunks(keys):
            rows = conn.execute(select(pyv).where(pyv.c.person.in_(chunk),
                                                  pyv.c.position <= start)
                                .order_by(pyv.c.person, pyv.c.year, pyv.c.position))
            for row in rows:  # the last row of each person-year wins
                self.person_years[(row.person, row.year)] = PersonYearState.from_row(row)
        self.persons_loaded.update(ids)

    def _load_households(self, conn: Connection, ids: set[int]) -> None:
        hp, hm = t.household_pool, t.household_member
        texts = [str(UUID(int=i)) for i in ids]
        for chunk in chunks(texts):
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

    def fold(self, events: Iterable[tuple[Any, Tracking]]) -> None:
        """`process_event` for each event in order, each type's handler looked up once (the
        dispatch descriptor builds a new bound wrapper on every call: 3 % of a rebuild)."""
        handlers = _HANDLERS
        for event, tracking in events:
            kind = type(event)
            handler = handlers.get(kind)
            if handler is None:
                handler = handlers[kind] = _DISPATCH.dispatch(kind)
            handler(self, event, tracking)

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
                "registered_at": day(e.at), "position": pos})
        if pos > self.p_enroll:
            self.batch.enrollment[(e.region, e.at.year, "")][0] += 1

    @process_event.register(Person.IdentityRecognised)
    def _recognised(self, e: Person.IdentityRecognised, tracking: Tracking) -> None:
        pos = tracking.notification_id
        if pos > self.p_enroll:
            self.batch.roster.append({
                "year": e.year, "person": self.person_keys[e.originator_id.int],
                "region": e.region, "identity": e.identity, "position": pos})

    @process_event.register(Person.Enrolled)
    def _enrolled(self, e: Person.Enrolled, tracking: Tracking) -> None:
        key = self.person_keys[e.originator_id.int]
        pos = tracking.notification_id
        old = self.person_years.get((key, e.year))
        if old is not None:
            self._terms(old, e)
        self._shift(e.year, old, -1, pos)
        s = PersonYearState()
        s.region, s.head, s.category = e.region, self.pseudonym(e.household_head), e.category
        s.identity, s.basis = e.identity, e.subsidy_basis
        s.due, s.subsidy, s.paid, s.refunded = e.due.fen, e.subsidy.fen, 0, 0
        s.covered_from = iso(e.covered_from)
        s.terminated = False
        s.rule = f"{e.policy_id}@{e.policy_version}"
        s.fiscal = None if e.fiscal is None else e.fiscal.fen
        self.person_years[(key, e.year)] = s
        self._person_year_changed(key, e.year, s, pos, e.at, "enrolled", 0, s.covered_from)

    @process_event.register(Person.ContributionPaid)
    def _paid(self, e: Person.ContributionPaid, tracking: Tracking) -> None:
        found = self._changing(e, tracking)
        if found is None:
            return
        key, s, pos = found
        s.paid += e.amount.fen
        covered_from = iso(e.covered_from)
        if s.covered_from is None and covered_from is not None:
            s.covered_from = covered_from
        if pos > self.p_fund:
            self.batch.fund[(s.region, e.year, "contribution", e.channel)] += e.amount.fen
        self._person_year_changed(key, e.year, s, pos, e.at, "paid", e.amount.fen,
                                  covered_from)

    @process_event.register(Person.SubsidyGranted)
    def _subsidy(self, e: Person.SubsidyGranted, tracking: Tracking) -> None:
        found = self._changing(e, tracking)
        if found is None:
            return
        key, s, pos = found
        s.identity, s.subsidy, s.basis, s.due = (e.identity, e.subsidy.fen, e.subsidy_basis,
                                                 e.due.fen)
        covered_from = iso(e.covered_from)
        if s.covered_from is None and covered_from is not None:
            s.covered_from = covered_from
        self._person_year_changed(key, e.year, s, pos, e.at, "subsidy", 0, covered_from)

    @process_event.register(Person.Refunded)
    def _refunded(self, e: Person.Refunded, tracking: Tracking) -> None:
        found = self._changing(e, tracking)
        if found is None:
            return
        key, s, pos = found
        s.refunded += e.amount.fen
        if e.terminated:
            s.terminated = True
            s.covered_from = None
        if pos > self.p_fund:
            self.batch.fund[(s.region, e.year, "refund", e.reason)] += e.amount.fen
        self._person_year_changed(key, e.year, s, pos, e.at,
                                  "terminated" if e.terminated else "refunded", e.amount.fen,
                                  None)

    def _shift(self, year: int, s: PersonYearState | None, sign: int, pos: int) -> None:
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
                self.batch.fund[(s.region, year, "fiscal_due", "")] += sign * self._fiscal(s, year)

    def _fiscal(self, s: PersonYearState, year: int) -> int:
        """The fiscal part per covered person of a person-year, as its decisions recorded it;
        for decisions recorded before they named it, the policy in force (ADR 29)."""
        return s.fiscal if s.fiscal is not None else self.view.fiscal(s.region, year)

    @staticmethod
    def _terms(s: PersonYearState, e: Any) -> None:
        """Before a person-year's event is folded: the fiscal part it recorded stands for a
        person-year loaded from the table (which does not keep it)."""
        if s.fiscal is None and e.fiscal is not None:
            s.fiscal = e.fiscal.fen

    def _changing(self, e: Any, tracking: Tracking
                  ) -> tuple[str, PersonYearState, int] | None:
        """Before a later event of a person-year is folded: its person, its state with its
        share of the fund and enrollment views taken out, and the event's position (None
        for a person-year the views never saw enrolled)."""
        key = self.person_keys[e.originator_id.int]
        s = self.person_years.get((key, e.year))
        if s is None:
            return None
        pos = tracking.notification_id
        self._terms(s, e)
        self._shift(e.year, s, -1, pos)
        if e.fiscal is not None:
            s.fiscal = e.fiscal.fen
        return key, s, pos

    def _person_year_changed(self, key: str, year: int, s: PersonYearState, pos: int, at: Any,
                             kind: str, amount: int, event_covered_from: str | None) -> None:
        self._shift(year, s, 1, pos)
        if pos > self.p_person:
            self.batch.person_years.append({
                "person": key, "year": year, "position": pos, "at": day(at), "kind": kind,
                "amount_fen": amount, "event_covered_from": event_covered_from,
                "region": s.region, "household_head": s.head, "category": s.category,
                "identity": s.identity, "subsidy_basis": s.basis,
                "enrolled": not s.terminated, "terminated": s.terminated,
                "covered_from": s.covered_from, "due_fen": s.due, "subsidy_fen": s.subsidy,
                "paid_fen": s.paid, "refunded_fen": s.refunded,
                "credit_fen": credit(Money(s.paid), Money(s.refunded), Money(s.due)).fen,
                "rule": s.rule,
            })

    # households

    @process_event.register(Household.Formed)
    def _formed(self, e: Household.Formed, tracking: Tracking) -> None:
        hid, pos, text = e.originator_id.int, tracking.notification_id, str(e.originator_id)
        head = self.pseudonym(e.head)
        self.households[hid] = (head, e.year, e.region, text)
        if pos > self.p_pool:
            if e.per_person_cap is not None:
                cap_each, rule = e.per_person_cap.fen, f"{e.policy_id}@{e.policy_version}"
            else:
                cap_each, rule = self.view.pool_policy(e.region, e.year)
            row = {"household_id": text, "head": head, "year": e.year,
                   "region": e.region, "formed_at": day(e.at), "formed_position": pos,
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
        row["covered"] = sum(1 for m in members.values() if counts_for_cap(
            iso_date(m["covered_from"]) if m["covered_position"] is not None else None,
            m["suspended_position"] is not None, m["left_position"] is not None))
        row["cap_fen"] = pool_cap(Money(row["cap_each_fen"]), row["covered"]).fen
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
                  "region": e.region, "joined_at": day(e.at), "joined_position": pos,
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
                           covered_to=e.covered_to.isoformat(), covered_at=day(e.at),
                           covered_position=tracking.notification_id)

    @process_event.register(Household.MemberSuspended)
    def _suspended(self, e: Household.MemberSuspended, tracking: Tracking) -> None:
        self._member_event(e, tracking, suspended_at=day(e.at),
                           suspended_position=tracking.notification_id)

    @process_event.register(Household.MemberLeft)
    def _left(self, e: Household.MemberLeft, tracking: Tracking) -> None:
        self._member_event(e, tracking, left_at=day(e.at),
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
            settled_once(e.claim_id, self.batch.claims)  # within a batch (the key: across)
            scope = claim_scope(e.expense, e.cause, e.third_party_share)  # ADR 64
            self.batch.claims[e.claim_id] = {
                "claim_id": e.claim_id, "household_id": text, "head": head, "year": year,
                "region": region, "person": self.pseudonym(e.person),
                "visit_date": e.visit_date.isoformat(),
                "at": day(e.at), "settled_at": e.at.isoformat(),
                "facility_level": e.facility_level, "facility_region": e.facility_region,
                "expense_fen": scope.expense.fen, "cause": scope.cause, "pooling": e.pooling,
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
            fields = {"reversed_at": day(e.at), "reversal_reason": e.reason,
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


def _registry() -> Any:
    """`ViewProjection.process_event`'s registry (read through the descriptor first, which
    registers any handler the library deferred)."""
    descriptor = ViewProjection.__dict__["process_event"]
    descriptor.__get__(None, ViewProjection)
    return descriptor.dispatcher


_DISPATCH = _registry()
#: The handler each event type is dispatched to, found once.
_HANDLERS: dict[type, Any] = {}
