"""What every command of the command line shares: consoles, options, errors, opening stores."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.cli.tables import Table
from domain.errors import LedgerError, PolicyError

if TYPE_CHECKING:  # imported where used: a command loads only what it needs (issue 16)
    from adapters.application.ledger import Ledger
    from adapters.stores.columnar import ColumnarStore
    from domain.policy_book import PolicyBook
    from projections.views import LedgerViews

out = Console()
err = Console(stderr=True)

DbOption = Annotated[str | None, typer.Option(
    "--db", help="Database URL (default: $BENEFITPOOL_DB or sqlite:///benefitpool.db).")]
PoliciesOption = Annotated[Path | None, typer.Option(
    "--policies", help="Policy folder (default: $BENEFITPOOL_POLICIES or the shipped one).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="CSV output.")]
AtPositionOption = Annotated[int | None, typer.Option(
    "--at-position", min=0, help="Answer as the ledger stood when its log was at N.")]
RegionOption = Annotated[str | None, typer.Option("--region", help="Region code or prefix.")]
YearOption = Annotated[int | None, typer.Option(
    "--year", min=2000, max=2100, help="Benefit year (2000–2100).")]
RequiredYearOption = Annotated[int, typer.Option(
    "--year", min=2000, max=2100, help="Benefit year (2000–2100).")]
DeploymentOption = Annotated[Path | None, typer.Option(
    "--deployment", help="Deployment file: one store per pooling region (default: "
    "$BENEFITPOOL_DEPLOYMENT unless --db names one store; without either, the one store "
    "of $BENEFITPOOL_DB).")]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", min=1, max=256, help="Run on a local Dask cluster of N processes.")]
SchedulerOption = Annotated[str | None, typer.Option(
    "--scheduler", help="Run on the Dask scheduler at ADDRESS (default: "
    "$DASK_SCHEDULER_ADDRESS).")]


def fail(message: str, code: int = 1, asked: str | None = None) -> NoReturn:
    """Log an error and exit. Resident ID numbers in it are masked, except the one the user
    asked about (`asked`, ADR 21)."""
    from domain.identity import mask_text

    keep = frozenset({asked.strip().upper()}) if asked else frozenset()
    err.print(f"[red]error:[/red] {escape(mask_text(message, keep))}", highlight=False)
    raise typer.Exit(code)


def database_url(db: str | None) -> str:
    from adapters import composition

    return composition.database_url(db)


def book(policies: Path | None) -> PolicyBook:
    from adapters import composition

    try:
        return composition.policy_book(policies)
    except PolicyError as e:
        fail(f"policy: {e}", 2)


def refuse_missing_store(url: str) -> None:
    """Exit 2 with `store_not_found` when there is no store at `url` (nothing created)."""
    from adapters.stores.urls import StoreError, missing_store

    try:
        why = missing_store(url)
    except StoreError as e:
        fail(str(e), 2)
    if why is not None:
        fail(f"store_not_found: no store at {url}: {why}. `benefitpool ingest FILE` or "
             "`benefitpool demo` creates one; --db or BENEFITPOOL_DB names another.", 2)


@contextmanager
def opened_ledger(db: str | None, policies: Path | None, create: bool = False
                  ) -> Iterator[Ledger]:
    """The ledger at `--db`, deciding by `--policies`; closed on the way out. Only a command
    that writes (`create`) makes a store where there is none; any other refuses (exit 2) and
    leaves nothing behind."""
    from adapters import composition
    from adapters.stores.urls import StoreError

    policy_book = book(policies)
    url = database_url(db)
    if not create:
        refuse_missing_store(url)
    try:
        ledger = composition.open_ledger(url, policy_book)
    except (StoreError, LedgerError) as e:
        fail(str(e), 2)
    except Exception as e:  # the store library raises its own error types
        fail(f"cannot open the store {url}: {e}", 2)
    try:
        yield ledger
    finally:
        ledger.app.close()


@contextmanager
def opened_views(ledger: Ledger, db: str | None) -> Iterator[LedgerViews]:
    """The read models beside the ledger's store; their engine disposed on the way out."""
    from adapters import composition
    from adapters.stores.urls import StoreError

    try:
        views = composition.open_views(ledger.app, ledger.policies, database_url(db))
    except (StoreError, LedgerError) as e:
        fail(str(e), 2)
    try:
        yield views
    finally:
        views.engine.dispose()


@contextmanager
def opened_columnar(ledger: Ledger, db: str | None, busy_ok: bool = True
                    ) -> Iterator[ColumnarStore | None]:
    """The columnar claims store beside the ledger's store, or None where there is none (or,
    with `busy_ok`, when another process has it open: noted); what was found wrong with it
    and rebuilt is noted on standard error on the way out."""
    from adapters import composition
    from adapters.stores.columnar import ColumnarBusy

    try:
        columnar = composition.open_columnar(ledger.app, database_url(db))
    except ColumnarBusy as e:
        if not busy_ok:
            fail(str(e), 1)
        err.print(f"note: {escape(str(e))}; reading the views instead", highlight=False)
        columnar = None
    try:
        yield columnar
    finally:
        if columnar is not None:
            for note in columnar.notes:
                err.print(f"note: {escape(note)}", highlight=False)
            columnar.close()


def progress_bar(title: str) -> Progress:
    """A progress bar on standard error, shown only on a terminal."""
    return Progress(TextColumn(f"[bold]{title}[/bold]"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err, disable=not err.is_terminal,
                    transient=False)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"invalid_input: {text!r} is not a date YYYY-MM-DD")


def print_rows(rows: list[dict[str, Any]], title: str, json_out: bool, csv_out: bool,
               columns: list[str] | None = None) -> None:
    """Rows as JSON, CSV or a table; with no rows, CSV is the header of `columns` alone and
    the table is not drawn."""
    if json_out:
        out.print_json(data=rows)
        return
    if csv_out:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else
                                (columns or ["region"]))
        writer.writeheader()
        writer.writerows(rows)
        return
    if not rows and columns is not None:
        return
    table = Table(title=title)
    columns = list(rows[0]) if rows else ["region"]
    for col in columns:
        table.add_column(col, justify="right" if col in (
            "amount", "registered", "recognised", "enrolled", "covered", "covered_recognised",
            "rate", "covered_of_registered", "rate_recognised")
            else "left")
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
    out.print(table)
