"""`benefitpool households` and `benefitpool persons`: find whom to ask about (issue 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.cli.common import (
    CsvOption,
    DbOption,
    JsonOption,
    PoliciesOption,
    err,
    fail,
    opened_ledger,
    opened_views,
    out,
    print_rows,
)
from domain.errors import Rejected

NameOption = Annotated[str | None, typer.Option(
    "--name", help="Part of the name (a household's: its head's).")]
IdentityOption = Annotated[str | None, typer.Option(
    "--identity", help="A hardship identity code (tekun, dibao, …); needs --year for persons.")]
AtCapOption = Annotated[bool, typer.Option(
    "--at-cap", help="Only pools with nothing left.")]
BelowOption = Annotated[str | None, typer.Option(
    "--remaining-below", metavar="YUAN", help="Only pools with less than this left, e.g. 100.")]
LimitOption = Annotated[int, typer.Option("--limit", min=1, max=1000, help="Rows a page.")]
OffsetOption = Annotated[int, typer.Option("--offset", min=0, max=10**9,
                                           help="Rows to pass over.")]
SearchRegionOption = Annotated[str | None, typer.Option(
    "--region", help="Region code or prefix, e.g. 3412.")]
SearchYearOption = Annotated[int | None, typer.Option(
    "--year", min=2000, max=2100, help="Benefit year.")]


def _search(what: str, db: str | None, policies: Path | None, json_out: bool, csv_out: bool,
            name: str | None, limit: int, offset: int, **filters: Any) -> None:
    from adapters.usecases.search import search
    from domain.money import Money
    from projections.views import ViewsDamaged

    below = filters.pop("remaining_below")
    with opened_ledger(db, policies) as ledger, opened_views(ledger, db) as views:
        try:
            filters["remaining_below"] = Money.parse(below, "--remaining-below") \
                if below is not None else None
            found = search(ledger.app, views, what, name, limit, offset, **filters)
        except Rejected as e:
            fail(f"{e.reason}: {e.message}", 2)
        except ViewsDamaged as e:
            fail(str(e), 1)
    rows = found["rows"]
    if json_out:
        out.print_json(data=found)
        return
    if csv_out:
        print_rows(rows, what, False, True)
        return
    if rows:
        print_rows(rows, what.capitalize(), False, False)
    shown = f"{offset + 1}–{offset + len(rows)}" if rows else "none"
    more = (f"; --offset {offset + len(rows)} for the next page"
            if offset + len(rows) < found["total"] else "")
    err.print(f"{what}: {shown} of {found['total']}{more}", highlight=False)


def households(
    region: SearchRegionOption = None, year: SearchYearOption = None, name: NameOption = None,
    identity: IdentityOption = None, at_cap: AtCapOption = False,
    remaining_below: BelowOption = None, limit: LimitOption = 20, offset: OffsetOption = 0,
    json_out: JsonOption = False, csv_out: CsvOption = False, db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Find households by region, year, name, identity or what is left of the pool.

    Each row: head, year, region, members, covered, cap, used, remaining, claims and the
    head's name; a page at a time (--limit, --offset), in year, region and head order."""
    _search("households", db, policies, json_out, csv_out, name, limit, offset, region=region,
            year=year, identity=identity, at_cap=at_cap, remaining_below=remaining_below)


def persons(
    region: SearchRegionOption = None, year: SearchYearOption = None, name: NameOption = None,
    identity: IdentityOption = None, at_cap: AtCapOption = False,
    remaining_below: BelowOption = None, limit: LimitOption = 20, offset: OffsetOption = 0,
    json_out: JsonOption = False, csv_out: CsvOption = False, db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Find persons by region, year, name, identity or what is left of their pool.

    With --year, each person-year: person, year, region, household head, identity, enrolled,
    covered from, what is left of the household's pool and the name; without, the registered
    persons (person, region, registered on, name)."""
    _search("persons", db, policies, json_out, csv_out, name, limit, offset, region=region,
            year=year, identity=identity, at_cap=at_cap, remaining_below=remaining_below)
