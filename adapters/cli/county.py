"""`benefitpool ingest`, `generate` and `demo`: command files in, synthetic counties out."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from adapters.application.ledger import Ledger
from adapters.cli.common import (
    DbOption,
    DeploymentOption,
    PoliciesOption,
    SchedulerOption,
    WorkersOption,
    book,
    database_url,
    err,
    fail,
    opened_ledger,
    out,
    progress_bar,
)
from adapters.cli.regions import deployment_in_use, ingest_deployment
from adapters.cli.tables import Table
from adapters.usecases.ingest import IngestBusy, IngestStopped, count_lines, ingest_file
from domain.errors import Rejected

#: Exit codes of an ingest that stopped before its end (docs/contract.md): the store failed
#: under it, or it was interrupted; either way the same command continues.
STORE_FAILED = 3
INTERRUPTED = 130


def _ingest(ledger: Ledger, path: Path, sink: IO[str], batch_size: int) -> Counter:
    total = count_lines(path)
    progress = progress_bar("ingest")
    with progress:
        task = progress.add_task("ingest", total=total)
        counts = ingest_file(ledger, path, sink, batch_size,
                             progress=lambda n: progress.advance(task, n))
        progress.update(task, completed=total)
    return counts


def _counts_table(counts: Counter, title: str) -> Table:
    table = Table(title=title)
    table.add_column("status")
    table.add_column("reason")
    table.add_column("lines", justify="right")
    for (outcome, reason), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1])):
        table.add_row(outcome, reason or "", str(n))
    return table


def ingest(
    file: Annotated[Path, typer.Argument(help="Command file (JSON Lines).")],
    results: Annotated[Path | None, typer.Option("--results", help="Write results here.")] = None,
    db: DbOption = None,
    policies: PoliciesOption = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10000)] = 1000,
    deployment: DeploymentOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Apply a command file; one result per line (rejected lines record nothing). With a
    deployment, each line goes to its region's store and the regions run in parallel."""
    if not file.is_file() or not os.access(file, os.R_OK):
        fail(f"cannot read {file}", 2)
    regions = deployment_in_use(deployment, db)
    if regions is not None:
        _ingest_regions(regions, file, results, policies, batch_size, workers, scheduler)
        return
    with opened_ledger(db, policies, create=True) as ledger:
        if results is not None:
            try:
                sink = results.open("w", encoding="utf-8")
            except OSError as e:
                fail(f"cannot write {results}: {e.strerror}", 2)
        else:
            sink = sys.stdout
        try:
            counts = _ingest(ledger, file, sink, batch_size)
        except IngestStopped as e:
            fail(e.message, STORE_FAILED if e.kind == "store_failed" else INTERRUPTED)
        except IngestBusy as e:
            fail(str(e), 2)
        except OSError as e:
            fail(f"cannot read {file}: {e.strerror}", 2)
        except Rejected as e:  # the store refuses every write (e.g. another audit key)
            fail(f"{e.reason}: {e.message}; lines before this batch were recorded", 2)
        finally:
            if results is not None:
                sink.close()
    err.print(_counts_table(counts, f"{file.name}: {sum(counts.values())} lines"))


def _ingest_regions(regions: Any, file: Path, results: Path | None, policies: Path | None,
                    batch_size: int, workers: int | None, scheduler: str | None) -> None:
    try:
        sink = results.open("w", encoding="utf-8") if results is not None else sys.stdout
    except OSError as e:
        fail(f"cannot write {results}: {e.strerror}", 2)
    try:
        counts = ingest_deployment(regions, file, sink, policies, batch_size, workers,
                                   scheduler)
    finally:
        if results is not None:
            sink.close()
    err.print(_counts_table(counts, f"{file.name}: {sum(counts.values())} lines, "
                                    f"{len(regions.regions)} regions"))


def generate(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the command file.")],
    households: Annotated[int, typer.Option(min=1, max=1_000_000)] = 2000,
    regime: Annotated[str, typer.Option(help="Policy id of the regime.")] = "fuyang-2021",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same county).")] = 0,
    policies: PoliciesOption = None,
) -> None:
    """Write a synthetic county's history as a command file."""
    from adapters.generator import write_county

    policy_book = book(policies)
    if not any(p.id == regime for p in policy_book):
        fail(f"unknown regime {regime!r}; one of: "
             f"{', '.join(sorted({p.id for p in policy_book}))}")
    lines = write_county(out_file, households, regime, seed)
    err.print(f"wrote {lines} commands for {households} households ({regime}, seed {seed}) "
              f"to {out_file}")


def demo(
    households: Annotated[int, typer.Option(min=1, max=200_000)] = 2000,
    regime: Annotated[str, typer.Option(help="Policy id of the regime.")] = "fuyang-2021",
    seed: Annotated[int, typer.Option()] = 2021,
    db: DbOption = None,
    policies: PoliciesOption = None,
    keep: Annotated[Path, typer.Option(
        "--keep", help="Where the generated command file is kept.")] = Path("demo-county.jsonl"),
) -> None:
    """Generate a synthetic county, ingest it into the store and summarise it.

    The command file is kept (--keep, default demo-county.jsonl); the end names a few
    households and persons to ask about."""
    from adapters.generator import write_county
    from adapters.usecases.summary import summarise

    with opened_ledger(db, policies, create=True) as ledger:
        existing = ledger.app.recorder.max_notification_id() or 0
        counts: Counter = Counter()
        if existing:
            err.print(f"The store {database_url(db)} already holds {existing} events; "
                      "summarising it without ingesting again (use another --db for a new "
                      "county).")
        else:
            try:
                n = write_county(keep, households, regime, seed)
            except OSError as e:
                fail(f"cannot write {keep}: {e.strerror}", 2)
            err.print(f"Generated {households} households of {regime} ({n} commands), kept "
                      f"in {keep}.")
            with open(os.devnull, "w") as sink:
                counts = _ingest(ledger, keep, sink, 1000)
        summary = summarise(ledger.app, ledger.policies)
        samples = _samples(ledger, db)
        summary["fund"] = _fund(ledger, db)
    _print_summary(summary, counts, database_url(db))
    _print_samples(samples, db)


def _fund(ledger: Ledger, db: str | None) -> Any:
    """The fund's totals over every region and year, as `report fund` adds them up."""
    from adapters.cli.common import opened_views
    from adapters.usecases.views import ask
    from domain.money import Money
    from domain.rules.fund import fund_totals
    from projections.queries import fund_report

    with opened_views(ledger, db) as views:
        rows = ask(ledger.app, views, fund_report)
    return fund_totals((r["item"], Money.parse(r["amount"])) for r in rows
                       if r["item"] not in ("total", "balance"))


def _samples(ledger: Ledger, db: str | None) -> dict[str, Any]:
    """A household at its cap, the largest household and a subsidised person, to try."""
    from adapters.cli.common import opened_views
    from adapters.usecases.search import search

    with opened_views(ledger, db) as views:
        at_cap = search(ledger.app, views, "households", limit=1, at_cap=True)["rows"]
        everyone = search(ledger.app, views, "households", limit=1000)["rows"]
        largest = sorted(everyone, key=lambda r: -r["members"])[:1]
        year = (at_cap or largest or [{"year": None}])[0]["year"]
        helped = search(ledger.app, views, "persons", limit=1, year=year,
                        identity="tekun")["rows"] if year else []
    return {"at_cap": at_cap, "largest": largest, "helped": helped}


def _print_samples(samples: dict[str, Any], db: str | None) -> None:
    store = f" --db {db}" if db else ""
    lines = []
    for h in samples["at_cap"]:
        lines.append(f"benefitpool household {h['head']} --year {h['year']}{store}"
                     f"   # {h['head_name']}: the pool is used up")
    for h in samples["largest"]:
        lines.append(f"benefitpool household {h['head']} --year {h['year']}{store}"
                     f"   # {h['head_name']}: {h['members']} members")
    for p in samples["helped"]:
        lines.append(f"benefitpool person {p['person']} --year {p['year']}{store}"
                     f"   # {p['name']}: subsidised ({p['identity']})")
    if lines:
        lines.append(f"benefitpool households --at-cap --limit 10{store}   # more to try")
        out.print("To try:\n" + "\n".join(lines), highlight=False, soft_wrap=True)


def _print_summary(s: dict[str, Any], counts: Counter, url: str) -> None:
    table = Table(title=f"Household pools in {url}")
    for col in ("year", "region", "households", "covered persons", "cap", "reimbursed",
                "left", "at cap"):
        table.add_column(col, justify="right")
    for row in s["pools"]:
        table.add_row(str(row["year"]), row["region"], str(row["households"]),
                      str(row["covered"]), row["cap"], row["used"], row["remaining"],
                      str(row["at_cap"]))
    out.print(table)
    fund = s["fund"]
    money = Table(title="Money (as `benefitpool report fund` adds it up)", show_header=False)
    money.add_column("what")
    money.add_column("amount", justify="right")
    for label, value in (("contributions (gross, before refunds)", fund.contributions),
                         ("subsidies", fund.subsidies),
                         ("fiscal share due", fund.fiscal_share),
                         ("reimbursements", fund.reimbursements),
                         ("refunds", fund.refunds),
                         ("balance", fund.balance),
                         ("claims settled", s["claims_settled"]),
                         ("claims reversed", s["claims_reversed"])):
        money.add_row(label, str(value))
    out.print(money)
    if counts:
        rejected = Counter({reason: n for (status, reason), n in counts.items()
                            if status == "rejected"})
        ok = sum(n for (status, _), n in counts.items() if status == "ok")
        table = Table(title=f"Commands: {ok} ok, {sum(rejected.values())} rejected")
        table.add_column("rejected because")
        table.add_column("lines", justify="right")
        for reason, n in rejected.most_common():
            table.add_row(reason, str(n))
        out.print(table)
