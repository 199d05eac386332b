"""`benefitpool household|person`: one household's pool or one person's year, from the views.

On an SQLite store whose views are current with the log, the answer is read through `sqlite3`
alone (`adapters.usecases.current_views`, ADR 96), so the command loads neither SQLAlchemy nor
the event library; otherwise, and over a deployment, the ledger catches the views up and
answers (`adapters.cli.queries.from_views`). The answer is the same either way."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters import composition
from adapters.cli.common import (
    AtPositionOption,
    DbOption,
    DeploymentOption,
    JsonOption,
    PoliciesOption,
    RequiredYearOption,
    YearOption,
    book,
    database_url,
    fail,
    out,
    parse_day,
    refuse_missing_store,
)
from adapters.cli.tables import Table
from domain.errors import Rejected
from projections.lookups import CLOCKS

AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Business date YYYY-MM-DD.")]


def _current_view(query: str, ref: str, year: int | None, as_of: date | None,
                  at_position: int | None, db: str | None, policies: Path | None
                  ) -> dict[str, Any] | None:
    """The view read from the store's current views through `sqlite3` (ADR 96), or None when
    the ledger must answer. As through the ledger: a policy folder named is loaded (a bad one
    exits 2), a store that does not exist is refused (exit 2, nothing created)."""
    if composition.policy_folder(policies) is not None:
        book(policies)
    url = database_url(db)
    refuse_missing_store(url)
    reads = composition.open_store_reads(url)
    if reads is None:
        return None
    from adapters.usecases.current_views import answer

    with reads:
        try:
            return answer(reads, query, ref, year, as_of=as_of, at_position=at_position)
        except Rejected as e:
            fail(f"{e.reason}: {e.message}", asked=ref)


def _as_of_view(query: str, ref: str, year: int | None, as_of: str | None,
                at_position: int | None, json_out: bool, db: str | None,
                policies: Path | None, deployment: Path | None = None
                ) -> dict[str, Any] | None:
    """A household or person view (as of a day or a position); printed as JSON and None when
    `--json` asked for that."""
    day = parse_day(as_of) if as_of else None
    view = None
    if composition.deployment_file(deployment, db) is None:
        view = _current_view(query, ref, year, day, at_position, db, policies)
    if view is None:
        from adapters.cli.queries import from_views
        from projections import queries

        view = from_views(db, policies, getattr(queries, query), ref, year,
                          deployment=deployment, as_of=day, at_position=at_position)
    if json_out:
        out.print_json(data=view)
        return None
    return view


def _asked(view: dict[str, Any]) -> str:
    """The bound a view was asked under, for its title."""
    return ((f" as of {view['as_of']}" if view["as_of"] else "")
            + (f" at log position {view['at_position']}" if view["at_position"] is not None
               else ""))


def household(
    person: Annotated[str, typer.Argument(help="The head's or any member's ID number.")],
    year: RequiredYearOption,
    as_of: AsOfOption = None,
    at_position: AtPositionOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    policies: PoliciesOption = None,
    deployment: DeploymentOption = None,
) -> None:
    """A household's pooled outpatient cap, what is used and what is left (from the views)."""
    view = _as_of_view("household", person, year, as_of, at_position, json_out, db,
                       policies, deployment)
    if view is None:
        return
    table = Table(title=f"Household {view['head']} — {year}" + _asked(view),
                  caption=f"clock: {CLOCKS[view['clock']]}")
    for col in ("members", "cap", "used", "remaining", "rule"):
        table.add_column(col)
    names = view.get("names") or {}
    table.add_row("\n".join(f"{m} {names.get(m) or ''}".rstrip() for m in view["members"]),
                  view["cap"], view["used"], view["remaining"], view["rule"] or "")
    out.print(table)
    covered = len(view["covered_members"])
    if covered:
        from domain.money import Money
        from domain.rules.citations import yuan_text

        cap = Money.parse(view["cap"])
        each = Money(cap.fen // covered)
        out.print(f"cap {yuan_text(cap)} = {covered} covered × {yuan_text(each)} per person "
                  f"(the policy's per-person cap; `benefitpool policy show {view['region']} "
                  f"{year}` cites it)", highlight=False)
    if view["claims"]:
        claims = Table(title="Claims")
        for col in ("claim", "person", "visit", "reimbursed"):
            claims.add_column(col)
        for c in view["claims"]:
            claims.add_row(c["claim_id"], c["person"], c["visit_date"],
                           c["reimbursed"] + (" (reversed)" if c["reversed"] else ""))
        out.print(claims)


def person(
    person_id: Annotated[str, typer.Argument(metavar="ID", help="ID or document number.")],
    year: YearOption = None,
    as_of: AsOfOption = None,
    at_position: AtPositionOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    policies: PoliciesOption = None,
    deployment: DeploymentOption = None,
) -> None:
    """A person's enrollment, payments, subsidy, refunds and reimbursement (from the views)."""
    view = _as_of_view("person", person_id, year, as_of, at_position, json_out, db,
                       policies, deployment)
    if view is None:
        return
    table = Table(title=f"Person {view['person']} — {view['year']}" + _asked(view),
                  show_header=False, caption=f"clock: {CLOCKS[view['clock']]}")
    for k, v in view.items():
        table.add_row(k, "" if v is None else str(v))
    out.print(table)
