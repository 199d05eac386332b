"""`benefitpool stats`: how many events the store holds and what they take on disk."""

from __future__ import annotations

from typing import Any

from adapters import composition
from adapters.cli.common import (
    DbOption,
    DeploymentOption,
    JsonOption,
    database_url,
    fail,
    out,
    refuse_missing_store,
)
from adapters.cli.regions import deployment_in_use
from adapters.cli.tables import Table
from adapters.stores.urls import StoreError
from adapters.usecases.stats import store_stats
from domain.errors import LedgerError


def stats(db: DbOption = None, json_out: JsonOption = False,
          deployment: DeploymentOption = None) -> None:
    """Events by type, bytes per table and index and per event, the event store and the views
    apart, and the states' average size raw and as stored. Over a deployment: each region's
    store."""
    regions = deployment_in_use(deployment, db)
    if regions is not None:
        reports = {r.prefix: _report(r.url) for r in regions.regions}
        if json_out:
            out.print_json(data={"regions": reports})
            return
        for prefix, report in reports.items():
            out.print(f"[bold]region {prefix} ({regions.by_prefix(prefix).name})[/bold]")
            _print(report)
        return
    refuse_missing_store(database_url(db))
    report = _report(database_url(db))
    if json_out:
        out.print_json(data=report)
        return
    _print(report)


def _report(url: str) -> dict[str, Any]:
    try:
        store = composition.open_store(url)
    except (StoreError, LedgerError) as e:
        fail(str(e), 2)
    except Exception as e:  # the store library raises its own error types
        fail(f"cannot open the store {url}: {e}", 2)
    try:
        return store_stats(store)
    except StoreError as e:
        fail(str(e), 2)
    finally:
        store.close()


def _print(report: dict[str, Any]) -> None:
    events = report["events"]
    kinds = Table(title=f"Events: {events['count']:,}")
    kinds.add_column("type")
    kinds.add_column("events", justify="right")
    for row in events["by_type"]:
        kinds.add_row(row["type"], f"{row['count']:,}")
    out.print(kinds)
    sizes = Table(title=f"Bytes on disk (measured by {report['measured_by']})")
    for column in ("part", "table or index", "kind", "bytes", "bytes/event"):
        sizes.add_column(column, justify="right" if column.startswith("bytes") else "left")
    for r in report["relations"]:
        sizes.add_row(r["part"], r["name"], r["kind"], f"{r['bytes']:,}",
                      _number(r["bytes_per_event"]))
    for part, total in report["totals"].items():
        sizes.add_row(f"[bold]{part}[/bold]", "", "total", f"{total['bytes']:,}",
                      f"[bold]{_number(total['bytes_per_event'])}[/bold]")
    out.print(sizes)
    state = report["state"]
    out.print(f"state: {_number(state['stored_bytes_per_event'])} bytes per event as stored; "
              f"in a sample of {state['sampled_events']:,} events "
              f"{_number(state['sampled_raw_bytes_per_event'])} raw, "
              f"{_number(state['sampled_stored_bytes_per_event'])} stored")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
