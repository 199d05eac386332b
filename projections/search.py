"""Finding households and persons in the read models (issue 16): by region prefix, benefit
year, hardship identity, a pool at its cap or with less than an amount left; in a stable order
(year, region, then the head's or person's column), a page at a time.

Names are not in the views: the use case (`adapters.usecases.search`) reads them from the
persons' streams and filters by them. Each row keeps the person column's value under `_key`
(the person key, for that), which the use case removes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, and_, exists, func, select
from sqlalchemy.sql import Select

from domain.errors import InvalidInput
from domain.identity import number_of
from domain.money import Money
from domain.rules.pool import pool_remaining
from projections import tables as t
from projections.personal import PLAIN, PersonalData
from projections.queries import person_keys

#: What a page may hold, and how far a page may start.
MAX_PAGE = 1000
MAX_OFFSET = 10**9


def _money(fen: int) -> str:
    return str(Money(fen))


def _check(region: str | None, limit: int | None, offset: int) -> None:
    if region is not None and not (region.isdigit() and 1 <= len(region) <= 6):
        raise InvalidInput(f"the region {region!r} is not a prefix of 1 to 6 digits")
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"a page holds 1 to {MAX_PAGE} rows, not {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"the offset is 0 to {MAX_OFFSET}, not {offset}")


def _latest_years() -> Any:
    """The last row of each person-year: its state now."""
    pyv = t.person_year_version
    last = select(pyv.c.person, pyv.c.year, func.max(pyv.c.position).label("last")) \
        .group_by(pyv.c.person, pyv.c.year).subquery()
    return select(pyv).join(last, and_(pyv.c.person == last.c.person,
                                       pyv.c.year == last.c.year,
                                       pyv.c.position == last.c.last)).subquery()


def _pool_filters(query: Select, hp: Any, at_cap: bool, remaining_below: Money | None
                  ) -> Select:
    if at_cap:
        query = query.where(hp.c.cap_fen > 0, hp.c.used_fen >= hp.c.cap_fen)
    if remaining_below is not None:
        query = query.where(hp.c.cap_fen - hp.c.used_fen < remaining_below.fen)
    return query


def households(engine: Engine, personal: PersonalData = PLAIN, *, region: str | None = None,
               year: int | None = None, identity: str | None = None, at_cap: bool = False,
               remaining_below: Money | None = None, limit: int | None = 20, offset: int = 0
               ) -> tuple[int, Iterator[dict[str, Any]]]:
    """(how many households match, the page of them from `offset`, `limit` rows or all when
    None): head, year, region, members, covered, cap, used, remaining, claims."""
    _check(region, limit, offset)
    hp = t.household_pool
    query = select(hp)
    if region:
        query = query.where(hp.c.region.startswith(region))
    if year is not None:
        query = query.where(hp.c.year == year)
    if identity:
        py = _latest_years()
        query = query.where(exists().where(
            py.c.household_head == hp.c.head, py.c.year == hp.c.year,
            py.c.identity == identity, py.c.terminated.is_(False)))
    query = _pool_filters(query, hp, at_cap, remaining_below)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        page = query.order_by(hp.c.year, hp.c.region, hp.c.head).offset(offset)
        rows = conn.execute(page.limit(limit) if limit is not None else page).all()
        keys = person_keys(conn, personal, [r.head for r in rows])
    return total, (
        {"head": number_of(keys[r.head]), "year": r.year, "region": r.region,
         "members": r.members, "covered": r.covered, "cap": _money(r.cap_fen),
         "used": _money(r.used_fen),
         "remaining": str(pool_remaining(Money(r.cap_fen), Money(r.used_fen))),
         "claims": r.claim_count, "_key": keys[r.head]} for r in rows)


def persons(engine: Engine, personal: PersonalData = PLAIN, *, region: str | None = None,
            year: int | None = None, identity: str | None = None, at_cap: bool = False,
            remaining_below: Money | None = None, limit: int | None = 20, offset: int = 0
            ) -> tuple[int, Iterator[dict[str, Any]]]:
    """(how many match, the page): with a year, its person-years (person, year, region,
    household head, identity, enrolled, covered from, what is left of the household's pool);
    without one, the registered persons (person, region, registered on)."""
    _check(region, limit, offset)
    if year is None:
        if identity or at_cap or remaining_below is not None:
            raise InvalidInput("a search of persons by identity, at cap or remaining below "
                               "an amount needs a year")
        return _registered(engine, personal, region, limit, offset)
    py = _latest_years()
    hp = t.household_pool
    query = select(py, hp.c.cap_fen, hp.c.used_fen).outerjoin(
        hp, and_(hp.c.head == py.c.household_head, hp.c.year == py.c.year)
    ).where(py.c.year == year)
    if region:
        query = query.where(py.c.region.startswith(region))
    if identity:
        query = query.where(py.c.identity == identity)
    query = _pool_filters(query, hp, at_cap, remaining_below)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        page = query.order_by(py.c.region, py.c.person).offset(offset)
        rows = conn.execute(page.limit(limit) if limit is not None else page).all()
        keys = person_keys(conn, personal, [p for r in rows
                                            for p in (r.person, r.household_head)])
    return total, (
        {"person": number_of(keys[r.person]), "year": r.year, "region": r.region,
         "household_head": number_of(keys[r.household_head]), "identity": r.identity,
         "enrolled": not r.terminated, "covered_from": r.covered_from,
         "remaining": None if r.cap_fen is None else str(
             pool_remaining(Money(r.cap_fen), Money(r.used_fen))),
         "_key": keys[r.person]} for r in rows)


def _registered(engine: Engine, personal: PersonalData, region: str | None,
                limit: int | None, offset: int) -> tuple[int, Iterator[dict[str, Any]]]:
    reg = t.person_registry
    query = select(reg)
    if region:
        query = query.where(reg.c.region.startswith(region))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        page = query.order_by(reg.c.region, reg.c.person).offset(offset)
        rows = conn.execute(page.limit(limit) if limit is not None else page).all()
        keys = person_keys(conn, personal, [r.person for r in rows])
    return total, (
        {"person": number_of(keys[r.person]), "region": r.region,
         "registered_at": r.registered_at, "_key": keys[r.person]} for r in rows)
