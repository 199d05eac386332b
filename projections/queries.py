"""Queries answered from the views: household and person (the contract's fields, exactly as
`Ledger.household_view` / `Ledger.person_view` give them from the aggregates; what they make of
the rows is `projections.lookups`, read here through SQLAlchemy), the fund ledger and the
enrollment report.

The caller brings the views up to date first (`projections.views.catch_up`), or passes
`refresh`, a callable run before the query (e.g. `lambda: catch_up(app, views)`).

Persons. The household and person queries take `personal`, the codec the views were built with
(`LedgerViews.personal`, ADR 21); see `projections.lookups`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import Engine, and_, case, column, func, select, text
from sqlalchemy.engine import Connection

from domain.identity import key_of_number, parse_person_ref
from domain.money import Money
from domain.rules.fund import FundTotals, fund_totals
from projections import lookups
from projections import tables as t
from projections.personal import PLAIN, PersonalData
from projections.sql import Statements

#: Identities counted as people lifted out of poverty (脱贫人口 and those monitored against a
#: return to poverty). Seed 004 (Gaizhou 2025) asks that their enrollment rate stay at or above
#: 99%; the report shows that target for every region.
LIFTED_OUT_OF_POVERTY: tuple[str, ...] = ("stably_lifted", "filed_poor", "monitored", "at_risk",
                                         "returned_to_poverty")
LIFTED_TARGET = Decimal("0.99")


class _Rows:
    """The views' rows for `projections.lookups`, read through a SQLAlchemy connection."""

    def __init__(self, conn: Connection) -> None:
        self.statements = _SQL.on(conn.dialect)
        self.conn = conn

    def one(self, name: str, params: dict[str, Any]) -> Any:
        return self.statements[name].fetch_one(self.conn, params)

    def all(self, name: str, params: dict[str, Any]) -> list[Any]:
        return self.statements[name].fetch(self.conn, params)


_SQL = Statements(**{name: text(s.sql).columns(*map(column, s.columns))
                     for name, s in lookups.STATEMENTS.items()})


def _refresh(refresh: Callable[[], Any] | None) -> None:
    if refresh is not None:
        refresh()


def person_keys(conn: Connection, personal: PersonalData,
                persons: Iterable[str]) -> dict[str, str]:
    """The person key behind each value of a person column (`lookups.person_keys`)."""
    return lookups.person_keys(_Rows(conn), personal, persons)


def household(engine: Engine, ref: str, year: int, as_of: date | None = None,
              at_position: int | None = None, refresh: Callable[[], Any] | None = None,
              personal: PersonalData = PLAIN) -> dict[str, Any]:
    """The household of `ref` (head or member) for a benefit year: cap, used, remaining,
    members and claims (`lookups.household`)."""
    key = parse_person_ref(ref).key
    _refresh(refresh)
    with engine.connect() as conn:
        return lookups.household(_Rows(conn), ref, key, year, as_of, at_position, personal)


def person(engine: Engine, ref: str, year: int | None = None, as_of: date | None = None,
           at_position: int | None = None, refresh: Callable[[], Any] | None = None,
           personal: PersonalData = PLAIN) -> dict[str, Any]:
    """A person's enrollment, money, coverage and reimbursement for a benefit year, the latest
    one by default (`lookups.person`)."""
    key = parse_person_ref(ref).key
    _refresh(refresh)
    with engine.connect() as conn:
        return lookups.person(_Rows(conn), ref, key, year, as_of, at_position, personal)


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
        out.extend({**r, "amount": str(Money(r["amount"]))} for r in rows)
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
