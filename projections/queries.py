"""Queries answered from the views: household and person (the contract's fields, exactly as
`Ledger.household_view` / `Ledger.person_view` give them from the aggregates), the fund ledger
and the enrollment report.

Two ways back in time, both answered from the same rows:

- `as_of=D` (business date): an event counts if its business date (`at`) is on or before D,
  as `Ledger.household_view(..., as_of=D)` folds the household's events (ADR 14). Members are
  listed if they joined by D and had not left by D; they count toward the cap if their coverage
  was decided by D, has begun by D and they were neither suspended nor gone by D; `used` sums
  the claims settled by D and not reversed by D; the claims listed are those settled by D. As in
  the ledger, the household is found through the person's current enrollment and the cap is
  the policy's per-person cap. A person `as_of=D` folds the person-year's events dated by D.
- `at_position=N`: what the ledger said when its notification log stood at N — the same rules
  with "event position <= N" in place of the date, the person's enrollment included.

The caller brings the views up to date first (`projections.views.catch_up`), or passes
`refresh`, a callable run before the query (e.g. `lambda: catch_up(app, views)`).

Persons. The household and person queries take `personal`, the codec the views were built with
(`LedgerViews.personal`, ADR 21): they look a person up by `personal.pseudonym(key)` and turn
the pseudonyms they find back into ID numbers through `person_registry` (`person_keys`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import Engine, and_, bindparam, case, func, select
from sqlalchemy.engine import Connection

from domain.errors import Rejected
from domain.identity import key_of_number, number_of, parse_person_ref
from domain.money import Money
from domain.rules.fund import FundTotals, fund_totals
from domain.rules.pool import counts_for_cap, pool_cap, pool_remaining
from domain.rules.standing import credit
from projections import tables as t
from projections.personal import PLAIN, PersonalData
from projections.sql import Statements

#: Identities counted as people lifted out of poverty (脱贫人口 and those monitored against a
#: return to poverty). Seed 004 (Gaizhou 2025) asks that their enrollment rate stay at or above
#: 99%; the report shows that target for every region.
LIFTED_OUT_OF_POVERTY: tuple[str, ...] = ("stably_lifted", "filed_poor", "monitored", "at_risk",
                                         "returned_to_poverty")
LIFTED_TARGET = Decimal("0.99")

_py, _reg, _hp, _hm, _cj = (t.person_year_version, t.person_registry, t.household_pool,
                            t.household_member, t.claims_journal)

_SQL = Statements(
    registry=select(_reg.c.number, _reg.c.region, _reg.c.registered_at, _reg.c.position)
    .where(_reg.c.person == bindparam("person")),
    person_year_last=select(_py).where(
        _py.c.person == bindparam("person"), _py.c.year == bindparam("year"),
        _py.c.position <= bindparam("bound")).order_by(_py.c.position.desc()),
    person_rows=select(_py).where(_py.c.person == bindparam("person")).order_by(
        _py.c.year, _py.c.position),
    household=select(_hp).where(_hp.c.household_id == bindparam("hid")),
    members=select(_hm).where(_hm.c.household_id == bindparam("hid")).order_by(
        _hm.c.joined_position),
    claims=select(_cj.c.claim_id, _cj.c.person, _cj.c.visit_date, _cj.c.reimbursed_fen,
                  _cj.c.at, _cj.c.position, _cj.c.reversed_at, _cj.c.reversal_position,
                  _cj.c.explanation)
    .where(_cj.c.household_id == bindparam("hid")).order_by(_cj.c.position),
    person_claims=select(_cj.c.reimbursed_fen, _cj.c.at, _cj.c.position, _cj.c.reversed_at,
                         _cj.c.reversal_position).where(
        _cj.c.household_id == bindparam("hid"), _cj.c.person == bindparam("person")),
)

NO_BOUND = 2**62



def _money(fen: int) -> str:
    return str(Money(fen))


#: What each clock a back-in-time answer reads means (ADR 68), by the `clock` it names.
CLOCKS = {
    "latest": "now: every fact the log holds, each as decided when it arrived",
    "business_date": "business date: the facts dated (their `at`) by the day asked, each as "
                     "decided when it arrived, whenever that was",
    "log_position": "log position: the ledger as it stood when its log reached the position "
                    "asked, facts recorded later unseen",
    "business_date_and_log_position": "business date and log position: the facts dated by "
                                      "the day asked among those recorded by the position",
}


def answer_clock(as_of: date | None, at_position: int | None) -> str:
    """Which clock an answer back in time reads: "business_date" (`as_of`), "log_position"
    (`at_position`), both, or "latest" (neither)."""
    if as_of is not None and at_position is not None:
        return "business_date_and_log_position"
    if as_of is not None:
        return "business_date"
    return "log_position" if at_position is not None else "latest"


class _Bound:
    """Which recorded facts count: those dated by `as_of` and/or recorded by `at_position`."""

    __slots__ = ("day", "position")

    def __init__(self, as_of: date | None, at_position: int | None) -> None:
        self.day = as_of.isoformat() if as_of is not None else None
        self.position = at_position

    def __bool__(self) -> bool:
        return self.day is not None or self.position is not None

    def sees(self, day: str | None, position: int | None) -> bool:
        if position is None:
            return False
        return ((self.day is None or day <= self.day)
                and (self.position is None or position <= self.position))


def _covered_from(member: Any, covered: bool) -> date | None:
    """A member row's first covered day, if its coverage counts (is recorded, or seen)."""
    return date.fromisoformat(member.covered_from) if covered else None


def _refresh(refresh: Callable[[], Any] | None) -> None:
    if refresh is not None:
        refresh()


def person_keys(conn: Connection, personal: PersonalData,
                persons: Iterable[str]) -> dict[str, str]:
    """The person key behind each value of a person column: through `person_registry`'s
    sealed numbers when the views hold pseudonyms, the value itself when they hold keys. A
    pseudonym the registry does not know (the views are caught up together, so it cannot
    happen) stands for itself."""
    wanted = set(persons)
    if personal.plain:
        return {p: p for p in wanted}
    registry = _SQL.on(conn.dialect)["registry"]
    found = {p: registry.fetch_one(conn, {"person": p}) for p in wanted}
    return {p: p if reg is None else key_of_number(personal.unseal(reg.number))
            for p, reg in found.items()}


def _head_key(conn: Connection, personal: PersonalData, head: str, me: str, key: str) -> str:
    """The person key of a household head found in a person column (`me` is `key`'s)."""
    return key if head == me else person_keys(conn, personal, (head,))[head]


# --- household ---------------------------------------------------------------------------------


def household(engine: Engine, ref: str, year: int, as_of: date | None = None,
              at_position: int | None = None, refresh: Callable[[], Any] | None = None,
              personal: PersonalData = PLAIN) -> dict[str, Any]:
    """The household of `ref` (head or member) for a benefit year: cap, used, remaining,
    members and claims — the fields and formats of `Ledger.household_view`."""
    key = parse_person_ref(ref).key
    _refresh(refresh)
    bound = _Bound(as_of, at_position)
    sql = _SQL.on(engine.dialect)
    me = personal.pseudonym(key)
    with engine.connect() as conn:
        py = sql["person_year_last"].fetch_one(conn, {
            "person": me, "year": year,
            "bound": NO_BOUND if at_position is None else at_position})
        if py is None:
            reg = sql["registry"].fetch_one(conn, {"person": me})
            if reg is None or (at_position is not None and reg.position > at_position):
                raise Rejected("unknown_person", f"{ref} is not registered")
            raise Rejected("not_enrolled", f"{ref} is not enrolled for {year}")
        hid = str(personal.ids.household(
            _head_key(conn, personal, py.household_head, me, key), year))
        h = sql["household"].fetch_one(conn, {"hid": hid})
        if h is None or (bound and not bound.sees(h.formed_at, h.formed_position)):
            when = f"on {as_of}" if as_of else f"at position {at_position}"
            raise Rejected("not_enrolled", f"the household did not exist {when}")
        members = sql["members"].fetch(conn, {"hid": hid})
        claims = sql["claims"].fetch(conn, {"hid": hid})
        keys = person_keys(conn, personal, [h.head, *(m.person for m in members),
                                            *(c.person for c in claims)])

    def number(person: str) -> str:
        return number_of(keys[person])

    listed, covered, claim_rows = [], [], []
    used = 0
    if not bound:
        for m in members:
            if m.left_position is None:
                listed.append(number(m.person))
                if counts_for_cap(_covered_from(m, m.covered_position is not None),
                                  m.suspended_position is not None, False):
                    covered.append(number(m.person))
        for c in claims:
            claim_rows.append({"claim_id": c.claim_id, "person": number(c.person),
                               "visit_date": c.visit_date, "reimbursed": _money(c.reimbursed_fen),
                               "reversed": c.reversal_position is not None,
                               "explanation": c.explanation})
        cap, used = h.cap_fen, h.used_fen
    else:
        for m in members:
            if not bound.sees(m.joined_at, m.joined_position):
                continue
            if bound.sees(m.left_at, m.left_position):
                continue
            listed.append(number(m.person))
            if counts_for_cap(_covered_from(m, bound.sees(m.covered_at, m.covered_position)),
                              bound.sees(m.suspended_at, m.suspended_position), False,
                              as_of):
                covered.append(number(m.person))
        for c in claims:
            if not bound.sees(c.at, c.position):
                continue
            reversed_ = bound.sees(c.reversed_at, c.reversal_position)
            if not reversed_:
                used += c.reimbursed_fen
            claim_rows.append({"claim_id": c.claim_id, "person": number(c.person),
                               "visit_date": c.visit_date, "reimbursed": _money(c.reimbursed_fen),
                               "reversed": reversed_, "explanation": c.explanation})
        cap = pool_cap(Money(h.cap_each_fen), len(covered)).fen
    return {
        "head": number(h.head), "year": year, "region": h.region, "members": listed,
        "covered_members": covered, "cap": _money(cap), "used": _money(used),
        "remaining": str(pool_remaining(Money(cap), Money(used))), "claims": claim_rows,
        "as_of": as_of.isoformat() if as_of else None, "rule": h.rule,
    }


# --- person ------------------------------------------------------------------------------------


class _State:
    __slots__ = ("region", "head", "identity", "due", "subsidy", "paid", "refunded",
                 "covered_from", "terminated")


def _state(row: Any) -> _State:
    s = _State()
    s.region, s.head, s.identity = row.region, row.household_head, row.identity
    s.due, s.subsidy, s.paid, s.refunded = (row.due_fen, row.subsidy_fen, row.paid_fen,
                                            row.refunded_fen)
    s.covered_from, s.terminated = row.covered_from, row.terminated
    return s


def _fold(rows: Iterable[Any]) -> _State | None:
    """A person-year folded from its events (rows in position order), as the aggregate
    applies them; events before the enrollment are ignored."""
    s: _State | None = None
    for row in rows:
        kind = row.kind
        if kind == "enrolled":
            s = _state(row)
            s.paid = s.refunded = 0
            s.covered_from, s.terminated = row.event_covered_from, False
        elif s is None:
            continue
        elif kind == "paid":
            s.paid += row.amount_fen
            if s.covered_from is None and row.event_covered_from is not None:
                s.covered_from = row.event_covered_from
        elif kind == "subsidy":
            s.identity, s.subsidy, s.due = row.identity, row.subsidy_fen, row.due_fen
            if s.covered_from is None and row.event_covered_from is not None:
                s.covered_from = row.event_covered_from
        else:  # refunded | terminated
            s.refunded += row.amount_fen
            if kind == "terminated":
                s.terminated, s.covered_from = True, None
    return s


def person(engine: Engine, ref: str, year: int | None = None, as_of: date | None = None,
           at_position: int | None = None, refresh: Callable[[], Any] | None = None,
           personal: PersonalData = PLAIN) -> dict[str, Any]:
    """A person's enrollment, money, coverage and reimbursement for a benefit year (the latest
    one by default) — the fields and formats of `Ledger.person_view`."""
    key = parse_person_ref(ref).key
    _refresh(refresh)
    bound = _Bound(as_of, at_position)
    sql = _SQL.on(engine.dialect)
    me = personal.pseudonym(key)
    head_key = None
    with engine.connect() as conn:
        reg = sql["registry"].fetch_one(conn, {"person": me})
        if reg is None or (bound and not bound.sees(reg.registered_at, reg.position)):
            raise Rejected("unknown_person", f"{ref} is not registered")
        rows = [r for r in sql["person_rows"].fetch(conn, {"person": me})
                if not bound or bound.sees(r.at, r.position)]
        years = {r.year for r in rows if r.kind == "enrolled"}
        if year is None:
            year = max(years) if years else None
        mine = [r for r in rows if r.year == year]
        s = _fold(mine) if as_of is not None else (_state(mine[-1]) if mine else None)
        reimbursed = 0
        if s is not None:
            head_key = _head_key(conn, personal, s.head, me, key)
            hid = str(personal.ids.household(head_key, year))
            for c in sql["person_claims"].fetch(conn, {"hid": hid, "person": me}):
                if not bound:
                    if c.reversal_position is None:
                        reimbursed += c.reimbursed_fen
                elif (bound.sees(c.at, c.position)
                      and not bound.sees(c.reversed_at, c.reversal_position)):
                    reimbursed += c.reimbursed_fen
    return {
        "person": personal.unseal(reg.number), "year": year,
        "region": s.region if s else reg.region,
        "household_head": number_of(head_key) if head_key is not None else None,
        "enrolled": bool(s and not s.terminated),
        "covered_from": s.covered_from if s and s.covered_from else None,
        "due": _money(s.due) if s else None, "subsidy": _money(s.subsidy) if s else None,
        "paid": _money(s.paid) if s else "0.00",
        "refunded": _money(s.refunded) if s else "0.00",
        "credit": str(credit(Money(s.paid), Money(s.refunded), Money(s.due))) if s else "0.00",
        "reimbursed": _money(reimbursed),
        "identity": s.identity if s else None,
    }


# --- reports -----------------------------------------------------------------------------------


def fund_report(engine: Engine, region: str | None = None, year: int | None = None,
                refresh: Callable[[], Any] | None = None) -> list[dict[str, Any]]:
    """The fund ledger: per region and year, its lines, then its totals and its balance,
    money as strings.

    Lines: contribution (key: channel; gross, before refunds), subsidy (key: identity or age
    basis), refund (key: reason), reimbursement (keys: settled, reversed (negative)),
    fiscal_due (covered persons x the policy's fiscal part; 0.00 where the policy states
    none). Then one `total` row per item (key: the item, in the order of
    `domain.rules.fund.FUND_ITEMS`) and a `balance` row (key ""): contributions + subsidies +
    fiscal share - reimbursements - refunds (ADR 74)."""
    _refresh(refresh)
    fl = t.fund_ledger
    stmt = select(fl).order_by(fl.c.region, fl.c.year, fl.c.item, fl.c.key)
    if region:
        stmt = stmt.where(fl.c.region.startswith(region))
    if year is not None:
        stmt = stmt.where(fl.c.year == year)
    with engine.connect() as conn:
        lines = [{"region": r.region, "year": r.year, "item": r.item, "key": r.key,
                  "amount": r.amount_fen} for r in conn.execute(stmt)]
    out: list[dict[str, Any]] = []
    for (reg, y), group in groupby(lines, key=lambda r: (r["region"], r["year"])):
        rows = list(group)
        out.extend({**r, "amount": _money(r["amount"])} for r in rows)
        out.extend(fund_total_rows(reg, y, fund_totals(
            (r["item"], Money(r["amount"])) for r in rows)))
    return out


def fund_total_rows(region: str, year: int, totals: FundTotals) -> list[dict[str, Any]]:
    """A region-year's `total` rows (one per item) and its `balance` row."""
    rows = [{"region": region, "year": year, "item": "total", "key": item,
             "amount": str(amount)} for item, amount in totals.by_item().items()]
    rows.append({"region": region, "year": year, "item": "balance", "key": "",
                 "amount": str(totals.balance)})
    return rows


def _rate(part: int, whole: int) -> str | None:
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


#: The identity row of the enrollment report for persons enrolled with no hardship identity.
NO_IDENTITY = "none"
#: The identity row of the enrollment report for every identity together.
ALL_IDENTITIES = "*"


def enrollment_report(engine: Engine, region: str | None = None, year: int | None = None,
                      refresh: Callable[[], Any] | None = None) -> list[dict[str, Any]]:
    """Enrollment per region, benefit year and identity; one denominator per column (ADRs 65,
    75).

    For each region and benefit year with an enrollment or a roster: a row `identity: "*"`
    (every identity) with everyone registered in the region by the end of that year; one row
    per identity (`"none"` for persons enrolled with no hardship identity); and a row
    `identity: "lifted_out_of_poverty"` summing `LIFTED_OUT_OF_POVERTY`. On every row `rate`
    is covered / enrolled. `covered_of_registered` is covered / registered, on the "*" row
    only. Where a department's roster recognised people of an identity in the region
    (`recognise_identity`, ADR 65), that row (and the group) also has `recognised`,
    `covered_recognised` (those of them covered, in any region) and `rate_recognised` =
    covered_recognised / recognised: the population the 99% target is about. Rows of the
    lifted-out identities and the group carry `target` "0.99" and `met`, judged on
    `rate_recognised` where there is a roster and on `rate` where there is none (`met_on` names
    which). A year with neither enrollments nor a roster has no rows.
    """
    _refresh(refresh)
    en = t.enrollment
    stmt = select(en).order_by(en.c.region, en.c.year, en.c.identity)
    if region:
        stmt = stmt.where(en.c.region.startswith(region))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        roster = _roster_counts(conn, region)
    registered: dict[str, list[tuple[int, int]]] = {}
    years: dict[tuple[str, int], dict[str, list[int]]] = {}
    for r in rows:
        if r.registered:
            registered.setdefault(r.region, []).append((r.year, r.registered))
        if (r.enrolled or r.covered) and (year is None or r.year == year):
            years.setdefault((r.region, r.year), {})[r.identity or NO_IDENTITY] = [
                r.enrolled, r.covered, 0, 0]
    for (reg, y, identity), (recognised, covered) in roster.items():
        if year is None or y == year:
            counts = years.setdefault((reg, y), {}).setdefault(identity, [0, 0, 0, 0])
            counts[2:] = [recognised, covered]
    out: list[dict[str, Any]] = []
    for (reg, y), items in sorted(years.items()):
        people = sum(n for ry, n in registered.get(reg, ()) if ry <= y)
        enrolled = sum(c[0] for c in items.values())
        covered = sum(c[1] for c in items.values())
        out.append(_enrollment_row(reg, y, ALL_IDENTITIES, [enrolled, covered, 0, 0], people))
        lifted = [0, 0, 0, 0]
        for identity, counts in sorted(items.items()):
            row = _enrollment_row(reg, y, identity, counts)
            if identity in LIFTED_OUT_OF_POVERTY:
                lifted = [a + b for a, b in zip(lifted, counts, strict=True)]
                _target(row)
            out.append(row)
        out.append(_target(_enrollment_row(reg, y, "lifted_out_of_poverty", lifted)))
    return out


def _enrollment_row(region: str, year: int, identity: str, counts: list[int],
                    registered: int | None = None) -> dict[str, Any]:
    enrolled, covered, recognised, covered_recognised = counts
    on_roster = recognised > 0
    return {"region": region, "year": year, "identity": identity, "registered": registered,
            "recognised": recognised if on_roster else None, "enrolled": enrolled,
            "covered": covered,
            "covered_recognised": covered_recognised if on_roster else None,
            "rate": _rate(covered, enrolled),
            "covered_of_registered": (None if registered is None
                                      else _rate(covered, registered)),
            "rate_recognised": _rate(covered_recognised, recognised) if on_roster else None,
            "target": None, "met": None, "met_on": None}


def _roster_counts(conn: Connection, region: str | None
                   ) -> dict[tuple[str, int, str], tuple[int, int]]:
    """(region, year, identity) -> (people a roster recognised, those of them covered)."""
    ro, pyv = t.identity_roster, t.person_year_version
    last = (select(pyv.c.person, pyv.c.year, func.max(pyv.c.position).label("pos"))
            .group_by(pyv.c.person, pyv.c.year).subquery())
    covered = and_(pyv.c.covered_from.is_not(None), pyv.c.terminated.is_(False))
    stmt = (select(ro.c.region, ro.c.year, ro.c.identity, func.count().label("recognised"),
                   func.sum(case((covered, 1), else_=0)).label("covered"))
            .select_from(ro.outerjoin(last, and_(last.c.person == ro.c.person,
                                                 last.c.year == ro.c.year))
                         .outerjoin(pyv, and_(pyv.c.person == last.c.person,
                                              pyv.c.year == last.c.year,
                                              pyv.c.position == last.c.pos)))
            .group_by(ro.c.region, ro.c.year, ro.c.identity))
    if region:
        stmt = stmt.where(ro.c.region.startswith(region))
    return {(r.region, r.year, r.identity): (r.recognised, int(r.covered or 0))
            for r in conn.execute(stmt)}


def _target(row: dict[str, Any]) -> dict[str, Any]:
    """The 99% target (seed 004), judged on the recognised population where a roster names
    it, else on the enrolled."""
    row["target"] = str(LIFTED_TARGET)
    row["met_on"] = "rate_recognised" if row["rate_recognised"] is not None else "rate"
    rate = row[row["met_on"]]
    row["met"] = None if rate is None else Decimal(rate) >= LIFTED_TARGET
    return row


def enrolled_person_years(engine: Engine, personal: PersonalData = PLAIN
                          ) -> set[tuple[str, int]]:
    """Every (person key, year) this store holds an enrollment of (a deployment's audit
    compares them with its directory)."""
    reg, pyv = t.person_registry, t.person_year_version
    stmt = (select(reg.c.number, pyv.c.year).distinct()
            .join(pyv, pyv.c.person == reg.c.person).where(pyv.c.kind == "enrolled"))
    with engine.connect() as conn:
        return {(key_of_number(personal.unseal(number)), year)
                for number, year in conn.execute(stmt)}
