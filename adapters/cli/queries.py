"""`benefitpool report fund|enrollment`, `views status|rebuild`: what the read models answer,
and the answer of the views caught up with the log that `household` and `person` fall back on
(`adapters.cli.lookups`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.cli.common import (
    CsvOption,
    DbOption,
    DeploymentOption,
    JsonOption,
    PoliciesOption,
    RegionOption,
    SchedulerOption,
    WorkersOption,
    YearOption,
    book,
    database_url,
    err,
    fail,
    opened_columnar,
    opened_ledger,
    opened_views,
    out,
    print_rows,
    progress_bar,
)
from adapters.cli.regions import (
    deployment_in_use,
    over_regions,
    store_for_person,
    views_over_regions,
)
from adapters.usecases import views as use
from domain.errors import Rejected
from projections import queries
from projections.tables import VIEWS
from projections.views import ViewsDamaged, status

report_app = typer.Typer(no_args_is_help=True, help="Fund and enrollment reports from the views.")
views_app = typer.Typer(no_args_is_help=True, help="Operate the read models.")
CHOICES = (*VIEWS, use.COLUMNAR)


def from_views(db: str | None, policies: Path | None, query: Any, *args: Any,
               deployment: Path | None = None, **kwargs: Any) -> Any:
    """Answer a query from the read models, caught up with the log first: of the store at
    `db`, or, in a deployment, of the region that holds the person, or of every region under
    the report's prefix, merged."""
    regions = deployment_in_use(deployment, db)
    if regions is None:
        return _from_store(db, policies, query, *args, **kwargs)
    if query in use.PERSONAL_QUERIES:
        url = store_for_person(regions, args[0], args[1])
        return _from_store(url, policies, query, *args, in_deployment=True, **kwargs)
    from adapters.usecases.regional_queries import merged_rows

    answers = over_regions(regions, args[0], lambda url: _from_store(
        url, policies, query, *args, in_deployment=True, **kwargs))
    return merged_rows(answers, *use.REPORT_ORDER[query])


def _from_store(db: str | None, policies: Path | None, query: Any, *args: Any,
                in_deployment: bool = False, **kwargs: Any) -> Any:
    """The answer of one store; a store that does not exist is refused, except a region's
    of a deployment (the deployment file names it: it is opened as it stands)."""
    asked = args[0] if query in use.PERSONAL_QUERIES else None  # they name persons (ADR 21)
    with opened_ledger(db, policies, create=in_deployment) as ledger, \
            opened_views(ledger, db) as views:
        try:
            answer = use.ask(ledger.app, views, query, *args, **kwargs)
            if asked is None:
                return answer
            from adapters.usecases.search import with_names

            return with_names(ledger.app, answer)  # the names are on the command line only
        except Rejected as e:
            fail(f"{e.reason}: {e.message}", asked=asked)
        except ViewsDamaged as e:
            fail(str(e), 1)


#: What each report's table says under it: the base of its money, the denominators of its
#: rates, the meaning of its labels (ADRs 74, 75).
REPORT_NOTES = {
    "fund": ("Contributions are gross (everything paid in, before refunds); refunds are a line "
             "of their own. Per region and year: `total` per item, then balance = "
             "contributions + subsidies + fiscal share due − reimbursements − refunds."),
    "enrollment": ("rate = covered ÷ enrolled on every row; covered_of_registered = covered ÷ "
                   "registered, on row * only (an identity is known from enrollment on, so "
                   "there is no registered count per identity); rate_recognised = "
                   "covered_recognised ÷ recognised, where a roster recognised people of the "
                   "identity. Identity * = every identity; none = no hardship identity; "
                   "lifted_out_of_poverty = the identities of seed 004, target 0.99, met "
                   "judged on the column met_on names."),
}


#: Each report's columns, for the header of an empty CSV answer.
REPORT_COLUMNS = {
    "fund": ["region", "year", "item", "key", "amount"],
    "enrollment": ["region", "year", "identity", "registered", "recognised", "enrolled",
                   "covered", "covered_recognised", "rate", "covered_of_registered",
                   "rate_recognised", "target", "met", "met_on"],
}


def _region_report(name: str, query: Any, title: str, region: str | None, year: int | None,
                   json_out: bool, csv_out: bool, db: str | None,
                   policies: Path | None, deployment: Path | None) -> None:
    rows = from_views(db, policies, query, region, year, deployment=deployment)
    scope = f"{region or 'all regions'} {year or ''}".strip()
    if not rows:
        err.print(f"warning: no data for {scope}: nothing is recorded there, so the {name} "
                  "report is empty.", highlight=False, soft_wrap=True)
    print_rows(rows, f"{title} {scope}", json_out, csv_out, REPORT_COLUMNS[name])
    if rows and not (json_out or csv_out):
        out.print(REPORT_NOTES[name], highlight=False)


@report_app.command("fund")
def report_fund(region: RegionOption = None, year: YearOption = None,
                json_out: JsonOption = False, csv_out: CsvOption = False, db: DbOption = None,
                policies: PoliciesOption = None, deployment: DeploymentOption = None) -> None:
    """Contributions (gross) by channel, subsidies, refunds, reimbursements, fiscal share due;
    per region and year their totals and the balance."""
    _region_report("fund", queries.fund_report, "Fund ledger", region, year, json_out,
                   csv_out, db, policies, deployment)


@report_app.command("enrollment")
def report_enrollment(region: RegionOption = None, year: YearOption = None,
                      json_out: JsonOption = False, csv_out: CsvOption = False,
                      db: DbOption = None, policies: PoliciesOption = None,
                      deployment: DeploymentOption = None) -> None:
    """Registered, enrolled, covered and rate (covered ÷ enrolled) per identity, against the
    99% target (seed 004)."""
    _region_report("enrollment", queries.enrollment_report, "Enrollment", region, year,
                   json_out, csv_out, db, policies, deployment)


@views_app.command("status")
def views_status(json_out: JsonOption = False, db: DbOption = None,
                 policies: PoliciesOption = None, deployment: DeploymentOption = None) -> None:
    """Each view's tracked position and how far it lags the log."""
    regions = deployment_in_use(deployment, db)
    if regions is not None:
        print_rows(views_over_regions(regions, policies, (), None, None), "Views", json_out,
                   False)
        return
    with opened_ledger(db, policies) as ledger, opened_views(ledger, db) as views, \
            opened_columnar(ledger, db, busy_ok=False) as columnar:
        rows = status(ledger.app, views)
        if columnar is not None:
            rows.append(use.columnar_status(ledger.app, columnar))
    print_rows(rows, "Views", json_out, False)


@views_app.command("rebuild")
def views_rebuild(
    name: Annotated[str | None, typer.Argument(
        help=f"One of {', '.join(CHOICES)}; all if omitted.")] = None,
    db: DbOption = None,
    policies: PoliciesOption = None,
    deployment: DeploymentOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Drop the view(s) and rebuild from the log, with a progress bar on a terminal; the
    columnar claims store (`columnar`, where the store has one) too. With --workers or
    --scheduler the log is folded in parts on Dask. Over a deployment: every region's views,
    in parallel on Dask with --workers or --scheduler."""
    from adapters.stores.columnar.store import ColumnarFailed

    if name is not None and name not in CHOICES:
        fail(f"invalid_input: unknown view {name!r}; one of {', '.join(CHOICES)}")
    names = [name] if name else list(CHOICES)
    regions = deployment_in_use(deployment, db)
    if regions is not None:
        rows = views_over_regions(regions, policies, tuple(names), workers, scheduler)
        err.print(f"rebuilt {', '.join(names)} in {len(regions.regions)} regions")
        print_rows(rows, "Views", False, False)
        return
    from adapters.cli.cluster import partitioned, replay_cluster, source_for

    sql = [n for n in names if n in VIEWS]
    source = (source_for(database_url(db), policies, book(policies))
              if sql and partitioned(workers, scheduler) else None)
    with opened_ledger(db, policies) as ledger, opened_views(ledger, db) as views, \
            opened_columnar(ledger, db, busy_ok=False) as columnar, \
            replay_cluster(workers, scheduler, wanted=bool(sql)) as client:
        if name == use.COLUMNAR and columnar is None:
            fail("invalid_input: this store has no columnar store (BENEFITPOOL_COLUMNAR "
                 "names its folder)")
        head = ledger.app.recorder.max_notification_id() or 0
        progress = progress_bar("rebuild")
        together = (client is None and bool(sql) and columnar is not None
                    and use.COLUMNAR in names)  # one read of the log for both (ADR 115)
        how = " in one read of the log" if together else ""
        with progress:
            task = progress.add_task("rebuild", total=head)
            try:
                if client is not None:
                    from adapters.parallel.replays import dask_views_rebuild

                    rows, parts = dask_views_rebuild(
                        client, source, tuple(sql), lambda done, total: progress.update(
                            task, completed=done, total=total))(ledger.app, views)
                    how = (f" from {parts} parts folded on Dask" if parts else
                           " in one pass (a part could not be read)")
                elif together:
                    rows = use.rebuild_with_columnar(ledger.app, views, sql, columnar, lambda
                                                     reached, _: progress.update(
                                                         task, completed=reached))
                elif sql:
                    rows = use.rebuild(ledger.app, views, sql, lambda reached, _:
                                       progress.update(task, completed=reached))
                else:
                    rows = status(ledger.app, views)
                if columnar is not None and not together:
                    if use.COLUMNAR in names:
                        rows.append(use.rebuild_columnar(ledger.app, columnar, views.personal))
                    else:
                        rows.append(use.columnar_status(ledger.app, columnar))
            except (ViewsDamaged, ColumnarFailed) as e:
                fail(str(e), 1)
    done = [n for n in names if n != use.COLUMNAR or columnar is not None]
    err.print(f"rebuilt {', '.join(done)} to position {head}{how}")
    print_rows(rows, "Views", False, False)
