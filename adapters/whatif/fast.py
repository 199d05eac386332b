"""The fast what-if engine: claims facts read column-wise from the read models, settled at once.

The claims journal holds every recorded claim's facts and its position in the log; the
household members table holds, for each member, the positions at which they were covered,
suspended or left. From these two tables NumPy builds, for every claim, what the household
knew of the member and how many members counted for the cap at that point of the log, and
`adapters.fastclaims.settle_columns` settles all claims in one pass.

A patch that changes more than `[outpatient]` can change who is covered from when: then the
members' timeline is re-derived by replaying the person-side commands (enrollments, payments,
subsidies, refunds, employee-insurance reports — no claims) through the ledger's service, and
the claims are settled column-wise against that timeline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from itertools import repeat
from typing import Any
from uuid import UUID

import numpy as np
from attrs import frozen
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from adapters.application.replay import (
    CommandReader,
    LoggedEvent,
    Replayer,
    in_scope,
    read_without_settled_claims,
)
from adapters.whatif.behaviour import AS_RECORDED, Behaviour, behave
from adapters.whatif.coverage import members_counting
from adapters.whatif.exact import HouseholdTotals, PersonYearMoney, Scope, Side, fold_person_event
from adapters.whatif.kernel import REASONS, ClaimColumns, settle_columns
from domain.aggregates import Household, Person
from domain.ids import StreamIds
from domain.policy import CAUSES, Policy
from domain.policy_book import PolicyBook
from domain.rules.pool import counts_for_cap, pool_cap
from projections.personal import PLAIN, PersonalData
from projections.queries import person_keys
from projections.tables import claims_journal, household_member, household_pool
from projections.tables import person_year_version as pyv

#: Patch sections that cannot change who is covered from when.
CLAIMS_ONLY_SECTIONS = frozenset({"outpatient", "name", "assumptions", "references"})
NOT_ENROLLED = "not_enrolled"
CHUNK = 131_072
_CAUSE = {c: i for i, c in enumerate(CAUSES)}


def changes_coverage(patch: Mapping[str, Any]) -> bool:
    """Whether a patch reaches beyond the claims rules (contributions, windows, waiting…)."""
    return bool(set(patch) - CLAIMS_ONLY_SECTIONS)


def _where_scope(query: Any, table: Any, scope: Scope) -> Any:
    if scope.region:
        query = query.where(table.c.region.startswith(scope.region))
    if scope.year is not None:
        query = query.where(table.c.year == scope.year)
    return query


def _ordinal(text: str | None) -> int:
    return date.fromisoformat(text).toordinal() if text else 0


# --- the baseline, from the read models --------------------------------------------------


def baseline_from_views(engine: Engine, scope: Scope, facts: ClaimsFacts | None = None,
                        personal: PersonalData = PLAIN) -> Side:
    """What the ledger recorded for the scope, as the read models hold it (the claims from
    `facts` when given, so that the claims journal is read once). Heads are person keys, as
    the exact engine gives them, whatever codec (`personal`) the views hold persons by."""
    side = Side()
    facts = facts if facts is not None else ClaimsFacts(engine, scope)
    side.claims = facts.recorded_outcomes()
    side.policies.update(f"{pid}@{version}" for pid, version in facts.recorded_policies)
    pools_and_person_years(engine, scope, side, personal)
    return side


def pools_and_person_years(engine: Engine, scope: Scope, side: Side,
                           personal: PersonalData = PLAIN, person_years: bool = True) -> None:
    """The scope's household pools and (unless told not to) each person-year's latest money,
    from the read models, into the baseline `side` (and the policies that decided the
    person-years)."""
    with engine.connect() as conn:
        hp = household_pool
        pools = _raw_rows(conn, _where_scope(select(
            hp.c.household_id, hp.c.head, hp.c.year, hp.c.region, hp.c.cap_fen, hp.c.used_fen,
            hp.c.members, hp.c.covered), hp, scope))
        heads = person_keys(conn, personal, (r[1] for r in pools))
        households = side.households
        for hid, head, year, region, cap, used, members, covered in pools:
            households[UUID(hid)] = HouseholdTotals(heads[head], year, region, cap=cap,
                                                    reimbursed=used, members=members,
                                                    covered=covered)
        if not person_years:
            return
        last = _where_scope(select(pyv.c.person, pyv.c.year,
                                   func.max(pyv.c.position).label("position")), pyv, scope
                            ).group_by(pyv.c.person, pyv.c.year).subquery()
        rows = conn.execute(select(pyv).join(last, (pyv.c.person == last.c.person)
                                             & (pyv.c.year == last.c.year)
                                             & (pyv.c.position == last.c.position)))
        for r in rows:
            side.person_years[(r.person, r.year)] = PersonYearMoney(
                r.region, due=r.due_fen, subsidy=r.subsidy_fen, paid=r.paid_fen,
                refunded=r.refunded_fen, covered=r.covered_from is not None and not r.terminated,
                terminated=r.terminated)
            side.policies.add(r.rule)


# --- the members' timeline ---------------------------------------------------------------

NEVER = np.iinfo(np.int64).max


class Timeline:
    """Each member's coverage as positions of the log: joined, covered, suspended, left."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[Any]] = {}  # (household id, person) -> row

    def joined(self, hid: str, person: str, region: str, position: int) -> None:
        self.rows[(hid, person)] = [region, 0, 0, NEVER, NEVER, NEVER, position]

    def covered(self, hid: str, person: str, start: date, end: date, position: int) -> None:
        row = self.rows[(hid, person)]
        row[1], row[2], row[3] = start.toordinal(), end.toordinal(), position

    def suspended(self, hid: str, person: str, position: int) -> None:
        self.rows[(hid, person)][4] = position

    def left(self, hid: str, person: str, position: int) -> None:
        self.rows[(hid, person)][5] = position


def timeline_from_views(engine: Engine, scope: Scope) -> Timeline:
    """The recorded timeline, from the household members table."""
    t = Timeline()
    hm, hp = household_member, household_pool
    query = _where_scope(select(hm).join(hp, hm.c.household_id == hp.c.household_id), hp, scope)
    with engine.connect() as conn:
        for r in conn.execute(query):
            t.rows[(r.household_id, r.person)] = [
                r.region, _ordinal(r.covered_from), _ordinal(r.covered_to),
                NEVER if r.covered_position is None else r.covered_position,
                NEVER if r.suspended_position is None else r.suspended_position,
                NEVER if r.left_position is None else r.left_position, r.joined_position]
    return t


#: `timeline_by_replay` done elsewhere (in partitions on Dask, ADR 55).
TimelineReplay = Callable[[Any, Scope, PolicyBook, PersonalData, Behaviour],
                          tuple["Timeline", Side]]


def timeline_by_replay(app: Any, scope: Scope, reform: PolicyBook,
                       personal: PersonalData = PLAIN, behaviour: Behaviour = AS_RECORDED,
                       freeze_gc: bool = False) -> tuple[Timeline, Side]:
    """The timeline (and person-year money) the person-side commands give under the reform:
    the recorded commands without claims, as the payers would send them (`behaviour`, ADR
    81), replayed through the service in memory. Members are named as the views name them
    (`personal`), to meet the claims journal's persons. (`freeze_gc`: see `Replayer.run`.)"""
    t, side, _ = replay_timeline(read_without_settled_claims(app), app.ids, scope, reform,
                                 personal, freeze_gc, behaviour)
    return t, side


def replay_timeline(log: Iterable[LoggedEvent], ids: StreamIds, scope: Scope,
                    reform: PolicyBook, personal: PersonalData, freeze_gc: bool = False,
                    behaviour: Behaviour = AS_RECORDED) -> tuple[Timeline, Side, set[UUID]]:
    """`timeline_by_replay` of a log's events (the whole log, or one partition's, ADR 54),
    and the streams the replay touched."""
    reader = CommandReader()
    person_side = (rc for rc in reader.group(log)
                   if not isinstance(rc.primary, Household.OutpatientClaimSettled
                                     | Household.ClaimReversed)
                   and in_scope(reader.scope_of(rc), scope.region, scope.year))
    t, side = Timeline(), Side()
    keys: dict[UUID, str] = {}
    pseudonym = personal.pseudonym
    replayer = Replayer(reform, ids=ids, freeze_gc=freeze_gc)
    for step in replayer.run(behave(person_side, reform, behaviour)):
        if step.result["status"] != "ok":
            side.rejected[(step.result["op"], step.result["reason"])] += 1
        position = step.recorded.position
        for e in step.events:
            if isinstance(e, Person.Registered):
                keys[e.originator_id] = e.person_key
            elif e.originator_id in keys:
                fold_person_event(side, keys[e.originator_id], e)
            elif isinstance(e, Household.MemberJoined):
                t.joined(str(e.originator_id), pseudonym(e.person), e.region, position)
            elif isinstance(e, Household.MemberCovered):
                t.covered(str(e.originator_id), pseudonym(e.person), e.covered_from,
                          e.covered_to, position)
            elif isinstance(e, Household.MemberSuspended):
                t.suspended(str(e.originator_id), pseudonym(e.person), position)
            elif isinstance(e, Household.MemberLeft):
                t.left(str(e.originator_id), pseudonym(e.person), position)
    return t, side, replayer.ledger.app.touched


# --- the claims, column-wise -------------------------------------------------------------


class ClaimsFacts:
    """The scope's recorded claims as columns, in log order: facts and recorded outcome."""

    def __init__(self, engine: Engine, scope: Scope) -> None:
        cj = claims_journal
        query = _where_scope(select(
            cj.c.claim_id, cj.c.household_id, cj.c.person, cj.c.region, cj.c.year,
            cj.c.visit_date, cj.c.facility_level, cj.c.facility_region, cj.c.expense_fen,
            cj.c.cause, cj.c.position, cj.c.reversal_position, cj.c.eligible_fen,
            cj.c.reimbursable_fen, cj.c.reimbursed_fen, cj.c.pool_cap_fen,
            cj.c.pool_used_before_fen, cj.c.pool_remaining_after_fen), cj, scope
        ).order_by(cj.c.position)
        policies = _where_scope(select(cj.c.policy_id, cj.c.policy_version).distinct(),
                                cj, scope)
        with engine.connect() as conn:
            rows = _raw_rows(conn, query)
            self.recorded_policies = set(_raw_rows(conn, policies))
        n = len(rows)
        cols = list(zip(*rows, strict=True)) if rows else [()] * 18
        (self.claim_ids, self.household_ids, self.persons, regions, years, visits, levels,
         facility, expense, causes, positions, reversals) = cols[:12]
        self.recorded = cols[12:18]
        self.pools = list(zip(regions, years, strict=True))
        self.visit_day = _mapped(visits, lambda v: date.fromisoformat(v).toordinal(), np.int32)
        self.facility_level = np.array(levels, np.int8).reshape(n)
        self.facility_region = _mapped(facility, int, np.int64)
        self.expense = np.array(expense, np.int64).reshape(n)
        self.cause = _mapped(causes, _CAUSE.__getitem__, np.int8)
        self.position = np.array(positions, np.int64).reshape(n)
        self.reversal_position = _mapped(reversals, lambda v: NEVER if v is None else v,
                                         np.int64)

    def __len__(self) -> int:
        return len(self.claim_ids)

    def recorded_outcomes(self) -> dict[str, Any]:
        """The recorded decision of every claim, as `ClaimOutcome` tuples."""
        return dict(zip(self.claim_ids, zip(repeat(None, len(self)), *self.recorded,
                                            strict=True), strict=True))


def _raw_rows(conn: Any, query: Any) -> list[tuple]:
    """All rows of a query as the driver's plain tuples (no per-row result objects)."""
    result = conn.execute(query)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _mapped(values: tuple, convert: Any, dtype: Any) -> np.ndarray:
    """Convert a column through a function applied once per distinct value."""
    table = {v: convert(v) for v in dict.fromkeys(values)}
    return np.fromiter(map(table.__getitem__, values), dtype, len(values))


def _codes(values: tuple | list) -> tuple[np.ndarray, dict[Any, int]]:
    """Dense integer codes for the values, in order of first appearance."""
    index = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return np.fromiter(map(index.__getitem__, values), np.int64, len(values)), index


@frozen
class KernelInput:
    """What `settle_columns` takes: the rows of enrolled claimants, their policies and the
    reversals, plus where those rows sit among all the scope's claims."""

    columns: ClaimColumns
    policies: list[Policy]
    reversal_claim: np.ndarray
    reversal_after: np.ndarray
    rows: np.ndarray  # indexes into the scope's claims

    def settle(self) -> Any:
        return settle_columns(self.columns, self.policies, reversal_claim=self.reversal_claim,
                              reversal_after=self.reversal_after)


def kernel_input(facts: ClaimsFacts, timeline: Timeline, reform: PolicyBook) -> KernelInput:
    """Columns for every claim whose claimant is a member at that point of the log."""
    n = len(facts)
    household, hindex = _codes(facts.household_ids)
    person, _ = _codes(facts.persons)
    pool_codes, pool_index = _codes(facts.pools)
    policies: list[Policy] = []
    pool_policy = np.full(len(pool_index), -1, np.int32)
    for pool, k in pool_index.items():
        found = reform.find(*pool)
        if found is not None:
            pool_policy[k] = len(policies)
            policies.append(found)
    pidx = pool_policy[pool_codes]
    missing_policy = pidx < 0
    pidx = np.where(missing_policy, 0, pidx).astype(np.int32)

    # the timeline as arrays, one row per member (the last row stands for "no such member")
    keys = list(timeline.rows)
    table = list(timeline.rows.values()) + [["", 0, 0, NEVER, NEVER, NEVER, NEVER]]
    m = len(table)
    t_region = np.fromiter((int(r[0]) if r[0] else 0 for r in table), np.int64, m)
    t_cov_from, t_cov_to = (np.fromiter((r[i] for r in table), np.int32, m) for i in (1, 2))
    t_cov_pos, t_susp_pos, t_left_pos, t_join_pos = (
        np.fromiter((r[i] for r in table), np.int64, m) for i in (3, 4, 5, 6))
    member_of = {k: i for i, k in enumerate(keys)}
    claimant = np.fromiter(map(member_of.get, zip(facts.household_ids, facts.persons,
                                                  strict=True), repeat(m - 1, n)),
                           np.int64, n)

    # every member slot of each claim's household: (households x widest household)
    slots: dict[int, list[int]] = {}
    for i, (hid, _p) in enumerate(keys):
        h = hindex.get(hid)
        if h is not None:
            slots.setdefault(h, []).append(i)
    width = max((len(v) for v in slots.values()), default=1)
    slot = np.full((len(hindex), width), m - 1, np.int64)
    for h, members in slots.items():
        slot[h, :len(members)] = members
    members = MemberArrays(t_region, t_cov_from, t_cov_to, t_cov_pos, t_susp_pos, t_left_pos,
                           t_join_pos)
    return assemble(members, slot, claimant, household, person, pidx, missing_policy, policies,
                    facts)


@frozen(eq=False)
class MemberArrays:
    """The timeline as arrays, one row per member; the last row stands for "no such member"."""

    region: np.ndarray
    covered_from: np.ndarray
    covered_to: np.ndarray
    covered_position: np.ndarray
    suspended_position: np.ndarray
    left_position: np.ndarray
    joined_position: np.ndarray


def assemble(t: MemberArrays, slot: np.ndarray, claimant: np.ndarray, household: np.ndarray,
             person: np.ndarray, pidx: np.ndarray, missing_policy: np.ndarray,
             policies: list[Policy], facts: Any) -> KernelInput:
    """The kernel's input from the claims' facts (`facts`: position, visit_day,
    facility_level, facility_region, expense, cause, reversal_position), each claimant's
    member row (`claimant`; the last row: none) and each household's member rows (`slot`)."""
    m = len(t.region)
    known = claimant != m - 1
    m_cov_from = t.covered_from[slot]
    m_cov_pos = t.covered_position[slot]
    m_end_pos = np.minimum(t.suspended_position, t.left_position)[slot]
    m_end_pos[slot == m - 1] = -1  # an empty slot never counts

    region = t.region[claimant]
    cov_from, cov_to = t.covered_from[claimant], t.covered_to[claimant]
    pos = facts.position
    # each position gathered, compared and dropped in turn: fewer arrays alive at once
    covered = t.covered_position[claimant] < pos
    suspended = t.suspended_position[claimant] < pos
    left = t.left_position[claimant] < pos
    enrolled = t.joined_position[claimant] < pos
    enrolled &= known
    enrolled &= ~left
    enrolled &= ~missing_policy
    # domain.service_claims._claim_year: a visit before its person-year's own year is that
    # year's only where the year already covers it (an early start); else not_enrolled
    first_day = np.array([date(p.year, 1, 1).toordinal() for p in policies] or [0],
                         np.int32)[pidx]
    early = facts.visit_day < first_day
    del first_day
    enrolled &= ~early | (covered & (cov_from > 0) & (cov_from <= facts.visit_day))
    # domain.rules.pool.counts_for_cap, column-wise; proved equal by the engines' property test
    # (tests/properties/test_whatif_properties.py: fast and exact settle every claim alike).
    counts = covered & ~suspended & ~left
    covered_on_visit = members_counting(household, pos, facts.visit_day, m_cov_pos,
                                        m_end_pos, m_cov_from, CHUNK)

    columns = ClaimColumns(
        household=household, person=person, policy=pidx, visit_day=facts.visit_day,
        facility_level=facts.facility_level, facility_region=facts.facility_region,
        member_region=region, expense=facts.expense, cause=facts.cause,
        covered_from=np.where(covered, cov_from, 0), covered_to=np.where(covered, cov_to, 0),
        suspended=suspended, counts_for_cap=counts, covered_on_visit=covered_on_visit)
    rows = np.flatnonzero(enrolled)
    sub = columns if rows.size == len(columns) else ClaimColumns(
        **{name: getattr(columns, name)[rows] for name in _COLUMN_NAMES})
    reversed_rows = np.flatnonzero(facts.reversal_position[rows] < NEVER)
    after = np.searchsorted(pos[rows], facts.reversal_position[rows][reversed_rows]) - 1
    return KernelInput(sub, policies, reversed_rows, after, rows)


def settle_claims(facts: ClaimsFacts, timeline: Timeline, reform: PolicyBook
                  ) -> tuple[list[str | None], np.ndarray, Any]:
    """Every claim settled under the reform: (reason or None per claim, rows, results)."""
    kernel = kernel_input(facts, timeline, reform)
    results = kernel.settle()
    reasons: list[str | None] = [NOT_ENROLLED] * len(facts)
    for i, code in zip(kernel.rows.tolist(), results.reason.tolist(), strict=True):
        reasons[i] = None if code == 0 else REASONS[code]
    return reasons, kernel.rows, results


_COLUMN_NAMES = ("household", "person", "policy", "visit_day", "facility_level",
                 "facility_region", "member_region", "expense", "cause", "covered_from",
                 "covered_to", "suspended", "counts_for_cap", "covered_on_visit")


def fast_whatif(engine: Engine, scope: Scope, baseline: Side, reform: PolicyBook,
                patch: Mapping[str, Any], app: Any = None, facts: ClaimsFacts | None = None,
                personal: PersonalData = PLAIN, replay: TimelineReplay | None = None,
                behaviour: Behaviour = AS_RECORDED) -> Side:
    """The reform side, settled column-wise from the read models (caught up by the caller,
    holding persons by the codec `personal`); a patch that changes coverage re-derives the
    timeline by `replay` (default: `timeline_by_replay` here) from the commands as the payers
    would send them (`behaviour`, ADR 81)."""
    if changes_coverage(patch):
        if app is None:
            raise ValueError("this patch changes coverage: the ledger's log is needed")
        timeline, side = (replay or timeline_by_replay)(app, scope, reform, personal,
                                                        behaviour)
    else:
        timeline, side = timeline_from_views(engine, scope), Side()
        side.person_years = {k: PersonYearMoney(**{f: getattr(v, f) for f in (
            "region", "due", "subsidy", "paid", "refunded", "covered", "terminated")})
            for k, v in baseline.person_years.items()}
        for (_key, year), py in side.person_years.items():
            policy = reform.find(py.region, year)
            if policy is not None:
                side.policies.add(policy.ref)
    facts = facts if facts is not None else ClaimsFacts(engine, scope)
    reasons, rows, res = settle_claims(facts, timeline, reform)
    n = len(facts)
    ok = np.fromiter((r is None for r in reasons), bool, n)
    amounts = []
    for column in (res.eligible_expense, res.reimbursable, res.reimbursed, res.pool_cap,
                   res.pool_used_before, res.pool_remaining_after):
        full = np.zeros(n, np.int64)
        full[rows] = column
        full[~ok] = 0
        amounts.append(full)
    side.claims = dict(zip(facts.claim_ids, zip(reasons, *(a.tolist() for a in amounts),
                                                strict=True), strict=True))
    reversed_ = facts.reversal_position != NEVER
    for reason, k in Counter(r for r in reasons if r is not None).items():
        side.rejected[("claim", reason)] += k
    # a reversal of a claim the reform refused is recorded as reversed before the claim
    # (ADR 46): no rejection, as in the exact engine's replay
    household, index = _codes(facts.household_ids)
    kept = ok & ~reversed_
    totals = np.zeros(len(index), np.int64)
    np.add.at(totals, household[kept], amounts[2][kept])
    used = dict(zip(index, totals.tolist(), strict=True))
    for pool in set(p for p, good in zip(facts.pools, ok.tolist(), strict=True) if good):
        policy = reform.find(*pool)
        if policy is not None:
            side.policies.add(policy.ref)
    _household_totals(side, baseline, timeline, used, reform)
    return side


def _household_totals(side: Side, baseline: Side, timeline: Timeline, used: dict[str, int],
                      reform: PolicyBook) -> None:
    members: dict[str, list[list[Any]]] = {}
    for (hid, _p), row in timeline.rows.items():
        members.setdefault(hid, []).append(row)
    for hid, b in baseline.households.items():
        rows = members.get(str(hid))
        if not rows:
            continue
        policy = reform.find(b.region, b.year)
        covered = sum(1 for r in rows if counts_for_cap(
            date.fromordinal(r[1]) if r[3] < NEVER else None, r[4] < NEVER, r[5] < NEVER))
        cap = pool_cap(policy.outpatient.per_person_cap, covered).fen if policy else 0
        side.households[hid] = HouseholdTotals(
            b.head, b.year, b.region, cap=cap, reimbursed=used.get(str(hid), 0),
            members=sum(1 for r in rows if r[5] == NEVER), covered=covered)
