"""The `benefitpool` command line."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.ledger import Ledger, open_ledger
from adapters.policy_files import load_policy_book
from adapters.store import StoreError, database_url
from adapters.views_store import open_views
from domain.errors import LedgerError, PolicyError, Rejected
from domain.policy import PolicyBook
from projections import queries
from projections.tables import VIEWS
from projections.views import LedgerViews, catch_up, status

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Household benefit-pool ledger for resident basic medical insurance.")
policy_app = typer.Typer(no_args_is_help=True, help="Show the policies the ledger decides by.")
app.add_typer(policy_app, name="policy")
report_app = typer.Typer(no_args_is_help=True, help="Fund and enrollment reports from the views.")
app.add_typer(report_app, name="report")
views_app = typer.Typer(no_args_is_help=True, help="Operate the read models.")
app.add_typer(views_app, name="views")
audit_app = typer.Typer(no_args_is_help=True,
                        help="What auditors read: the explained history of the ledger.")
app.add_typer(audit_app, name="audit")
key_app = typer.Typer(no_args_is_help=True, help="The cipher key of personal data (ADR 21).")
app.add_typer(key_app, name="key")

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


def _fail(message: str, code: int = 1, asked: str | None = None) -> None:
    """Log an error and exit. Resident ID numbers in it are masked, except the one the user
    asked about (`asked`, ADR 21)."""
    from adapters.personal import mask_text

    keep = frozenset({asked.strip().upper()}) if asked else frozenset()
    err.print(f"[red]error:[/red] {escape(mask_text(message, keep))}", highlight=False)
    raise typer.Exit(code)


def _book(policies: Path | None) -> PolicyBook:
    folder = policies or (Path(os.environ["BENEFITPOOL_POLICIES"])
                          if os.environ.get("BENEFITPOOL_POLICIES") else None)
    try:
        return load_policy_book(folder)
    except PolicyError as e:
        _fail(f"policy: {e}", 2)


@contextmanager
def _ledger(db: str | None, policies: Path | None) -> Iterator[Ledger]:
    book = _book(policies)
    try:
        ledger = open_ledger(database_url(db), book)
    except (StoreError, LedgerError) as e:
        _fail(str(e), 2)
    except Exception as e:  # the store library raises its own error types
        _fail(f"cannot open the store {database_url(db)}: {e}", 2)
    try:
        yield ledger
    finally:
        ledger.app.close()


@contextmanager
def _views(ledger: Ledger, db: str | None) -> Iterator[LedgerViews]:
    try:
        views = open_views(ledger, database_url(db))
    except (StoreError, LedgerError) as e:
        _fail(str(e), 2)
    try:
        yield views
    finally:
        views.engine.dispose()


def _from_views(db: str | None, policies: Path | None, query: Any, *args: Any,
                **kwargs: Any) -> Any:
    """Answer a query from the read models, caught up with the log first."""
    with _ledger(db, policies) as ledger, _views(ledger, db) as views:
        asked = None
        if query in (queries.household, queries.person):  # they name persons (ADR 21)
            kwargs["personal"], asked = views.personal, args[0]
        try:
            return query(views.engine, *args, refresh=lambda: catch_up(ledger.app, views),
                         **kwargs)
        except Rejected as e:
            _fail(f"{e.reason}: {e.message}", asked=asked)


def _read_lines(path: Path) -> Iterator[str]:
    """Decode each line on its own, so one bad byte sequence spoils only its own line."""
    with path.open("rb") as f:
        for raw in f:
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                yield "\x00not-utf-8"


def ingest_file(ledger: Ledger, path: Path, results_to: Any, batch_size: int,
                show_progress: bool) -> Counter:
    """Apply a command file, write results as JSON Lines; returns counts by status/reason."""
    counts: Counter = Counter()
    total = sum(1 for _ in path.open("rb"))
    progress = Progress(TextColumn("[bold]ingest[/bold]"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=err, disable=not show_progress,
                        transient=False)
    with progress:
        task = progress.add_task("ingest", total=total)
        for result in ledger.execute_lines(
                _read_lines(path), batch_size=batch_size, freeze_gc=True,
                progress=lambda n: progress.advance(task, n)):
            counts[(result["status"], result["reason"])] += 1
            results_to.write(json.dumps(result, ensure_ascii=False) + "\n")
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


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="Command file (JSON Lines).")],
    results: Annotated[Path | None, typer.Option("--results", help="Write results here.")] = None,
    db: DbOption = None,
    policies: PoliciesOption = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10000)] = 1000,
) -> None:
    """Apply a command file; one result per line (rejected lines record nothing)."""
    if not file.is_file() or not os.access(file, os.R_OK):
        _fail(f"cannot read {file}", 2)
    with _ledger(db, policies) as ledger:
        if results is not None:
            try:
                sink = results.open("w", encoding="utf-8")
            except OSError as e:
                _fail(f"cannot write {results}: {e.strerror}", 2)
        else:
            sink = sys.stdout
        try:
            counts = ingest_file(ledger, file, sink, batch_size, err.is_terminal)
        except OSError as e:
            _fail(f"cannot read {file}: {e.strerror}", 2)
        except Rejected as e:  # the store refuses every write (e.g. another audit key)
            _fail(f"{e.reason}: {e.message}; lines before this batch were recorded", 2)
        finally:
            if results is not None:
                sink.close()
    err.print(_counts_table(counts, f"{file.name}: {sum(counts.values())} lines"))


@app.command()
def household(
    person: Annotated[str, typer.Argument(help="The head's or any member's ID number.")],
    year: Annotated[int, typer.Option("--year", help="Benefit year.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Business date YYYY-MM-DD.")] = None,
    at_position: AtPositionOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """A household's pooled outpatient cap, what is used and what is left (from the views)."""
    view = _from_views(db, policies, queries.household, person, year,
                       as_of=_parse_day(as_of) if as_of else None, at_position=at_position)
    if json_out:
        out.print_json(data=view)
        return
    table = Table(title=f"Household {view['head']} — {year}"
                  + (f" as of {view['as_of']}" if view["as_of"] else ""))
    for col in ("members", "cap", "used", "remaining", "rule"):
        table.add_column(col)
    table.add_row("\n".join(view["members"]), view["cap"], view["used"], view["remaining"],
                  view["rule"] or "")
    out.print(table)
    if view["claims"]:
        claims = Table(title="Claims")
        for col in ("claim", "person", "visit", "reimbursed"):
            claims.add_column(col)
        for c in view["claims"]:
            claims.add_row(c["claim_id"], c["person"], c["visit_date"],
                           c["reimbursed"] + (" (reversed)" if c["reversed"] else ""))
        out.print(claims)


@app.command()
def person(
    person_id: Annotated[str, typer.Argument(metavar="ID", help="ID or document number.")],
    year: Annotated[int | None, typer.Option("--year", help="Benefit year.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Business date YYYY-MM-DD.")] = None,
    at_position: AtPositionOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """A person's enrollment, payments, subsidy, refunds and reimbursement (from the views)."""
    view = _from_views(db, policies, queries.person, person_id, year,
                       as_of=_parse_day(as_of) if as_of else None, at_position=at_position)
    if json_out:
        out.print_json(data=view)
        return
    table = Table(title=f"Person {view['person']} — {view['year']}", show_header=False)
    for k, v in view.items():
        table.add_row(k, "" if v is None else str(v))
    out.print(table)


@policy_app.command("list")
def policy_list(policies: PoliciesOption = None, json_out: JsonOption = False) -> None:
    """Every policy version loaded, newest in force."""
    book = _book(policies)
    in_force = {p.ref for p in book.in_force()}
    rows = [{"id": p.id, "version": p.version, "region": p.region, "year": p.year,
             "seed": p.seed, "individual": str(p.contribution.individual),
             "in_force": p.ref in in_force, "assumptions": len(p.assumptions),
             "hash": p.content_hash[:12]} for p in book]
    if json_out:
        out.print_json(data=rows)
        return
    table = Table(title="Policies")
    for col in rows[0]:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    out.print(table)


@policy_app.command("show")
def policy_show(region: str, year: int, policies: PoliciesOption = None,
                json_out: JsonOption = False) -> None:
    """The policy in force for a county and year, with its references and assumptions."""
    book = _book(policies)
    policy = book.find(region, year)
    if policy is None:
        _fail(f"no_policy: no policy for region {region} in {year}")
    raw = _plain(book.raw(policy))
    if json_out:
        out.print_json(data={"ref": policy.ref, "hash": policy.content_hash, "policy": raw})
        return
    out.print(f"[bold]{policy.name}[/bold]  {policy.ref}  region {policy.region}*  "
              f"year {policy.year}  seed {policy.seed}  hash {policy.content_hash[:12]}")
    for section, values in raw.items():
        if section in ("assumptions", "references") or not isinstance(values, dict):
            continue
        table = Table(title=section, show_header=False)
        for k, v in _flatten(values).items():
            note = policy.reference_for(f"{section}.{k}") or policy.reference_for(section) or ""
            table.add_row(k, json.dumps(v, ensure_ascii=False), note)
        out.print(table)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"invalid_input: {text!r} is not a date YYYY-MM-DD")


@app.command()
def generate(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the command file.")],
    households: Annotated[int, typer.Option(min=1, max=1_000_000)] = 2000,
    regime: Annotated[str, typer.Option(help="Policy id of the regime.")] = "fuyang-2021",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same county).")] = 0,
    policies: PoliciesOption = None,
) -> None:
    """Write a synthetic county's history as a command file."""
    from adapters.generator import write_county

    book = _book(policies)
    if not any(p.id == regime for p in book):
        _fail(f"unknown regime {regime!r}; one of: {', '.join(sorted({p.id for p in book}))}")
    lines = write_county(out_file, households, regime, seed)
    err.print(f"wrote {lines} commands for {households} households ({regime}, seed {seed}) "
              f"to {out_file}")


@app.command()
def demo(
    households: Annotated[int, typer.Option(min=1, max=200_000)] = 2000,
    regime: Annotated[str, typer.Option(help="Policy id of the regime.")] = "fuyang-2021",
    seed: Annotated[int, typer.Option()] = 2021,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Generate a synthetic county, ingest it into the store, and summarise the pools."""
    import tempfile

    from adapters.generator import write_county
    from adapters.summary import summarise

    with _ledger(db, policies) as ledger:
        existing = ledger.app.recorder.max_notification_id() or 0
        counts: Counter = Counter()
        if existing:
            err.print(f"The store {database_url(db)} already holds {existing} events; "
                      "summarising it without ingesting again (use another --db for a new "
                      "county).")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "county.jsonl"
                n = write_county(path, households, regime, seed)
                err.print(f"Generated {households} households of {regime} ({n} commands).")
                with open(os.devnull, "w") as sink:
                    counts = ingest_file(ledger, path, sink, 1000, err.is_terminal)
        summary = summarise(ledger)
    _print_summary(summary, counts, database_url(db))


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
    money = Table(title="Money", show_header=False)
    for k in ("contributions", "subsidies", "refunds", "reimbursements", "claims_settled",
              "claims_reversed"):
        money.add_row(k.replace("_", " "), str(s[k]))
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


def _report(rows: list[dict[str, Any]], title: str, json_out: bool, csv_out: bool) -> None:
    if json_out:
        out.print_json(data=rows)
        return
    if csv_out:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["region"])
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(title=title)
    columns = list(rows[0]) if rows else ["region"]
    for col in columns:
        table.add_column(col, justify="right" if col in ("amount", "registered", "enrolled",
                                                         "covered", "rate") else "left")
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
    out.print(table)


# --- audit verify, replay, what-if ----------------------------------------------------------------


def _problem_line(p: dict[str, Any]) -> str:
    where = " ".join(f"{k}={p[k]}" for k in ("position", "stream", "originator_id", "version",
                                              "event", "view", "table") if p.get(k) is not None)
    return f"[{p['kind']}] {where}: {p['message']}"


def _seal(text: str | None) -> Any:
    from adapters.chain import Seal

    if text is None:
        return None
    position, _, link = text.partition(":")
    if not position.isdigit() or len(link) != 64:
        _fail(f"--expect-seal must be POSITION:LOGLINK (64 hex digits), as printed by a "
              f"previous audit; got {text!r}", 2)
    return Seal(int(position), link.lower())


@audit_app.command("verify")
def audit_verify(
    at_position: AtPositionOption = None,
    expect_seal: Annotated[str | None, typer.Option(
        "--expect-seal", metavar="POSITION:LOGLINK",
        help="A seal printed by an earlier audit and kept outside the database: also proves "
             "that no event up to that position was removed.")] = None,
    json_out: JsonOption = False,
    views: Annotated[bool, typer.Option(
        "--views/--no-views", help="Also compare every view with its rebuild.")] = True,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Check the hash chain, re-decide every recorded decision under the policy version that
    took it, and compare every view with its rebuild. Exit 0 when clean, 1 otherwise."""
    from adapters.audit import AuditUnavailable, run_audit

    book = _book(policies)
    with _ledger(db, policies) as ledger:
        try:
            if views:
                with _views(ledger, db) as live:
                    result = run_audit(ledger.app, book, live, at_position, _seal(expect_seal))
            else:
                result = run_audit(ledger.app, book, None, at_position, _seal(expect_seal))
        except AuditUnavailable as e:
            _fail(str(e), 2)
    checks = {k: result[k] for k in ("chain", "decisions", "views") if k in result}
    upto, problems = result["position"], result["problems"]
    if json_out:
        out.print_json(data=result)
    else:
        table = Table(title=f"Audit of {database_url(db)} at position {upto}")
        table.add_column("check")
        table.add_column("checked")
        table.add_column("problems", justify="right")
        for name, c in checks.items():
            checked = ", ".join(f"{v} {k}" if not isinstance(v, list) else f"{k}: {len(v)}"
                                for k, v in c["checked"].items())
            table.add_row(name, checked, str(len(c["problems"])))
        out.print(table)
        chain = result["chain"]
        if not chain["keyed"]:
            err.print("warning: BENEFITPOOL_AUDIT_KEY is not set; the chain was checked with "
                      "the public development key and proves only that nothing was damaged "
                      "by accident.")
        if chain["seal"] is not None:
            out.print(f"seal (keep it outside the database; check later with --expect-seal): "
                      f"{chain['seal']['position']}:{chain['seal']['log_link']}",
                      highlight=False)
        for c in checks.values():
            for p in c["problems"]:
                out.print(_problem_line(p), highlight=False, markup=False, soft_wrap=True)
        out.print("clean" if problems == 0 else f"{problems} discrepancies", highlight=False)
    if problems:
        raise typer.Exit(1)


@app.command()
def replay(
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write the commands here (default: standard output).")] = None,
    at_position: AtPositionOption = None,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Write the recorded history back as contract commands (JSON Lines): ingesting the file
    into an empty store rebuilds the same ledger."""
    from adapters.replay import CommandReader, read_log

    with _ledger(db, policies) as ledger:
        sink = out_file.open("w", encoding="utf-8") if out_file else sys.stdout
        n = 0
        try:
            for rc in CommandReader().group(read_log(ledger.app, upto=at_position)):
                if rc.command:
                    sink.write(json.dumps(rc.command, ensure_ascii=False) + "\n")
                    n += 1
        finally:
            if out_file:
                sink.close()
    err.print(f"{n} commands")


@app.command()
def whatif(
    policy: Annotated[Path, typer.Option("--policy", help="The patch (TOML) to apply.")],
    region: Annotated[str | None, typer.Option(help="Region code or prefix in scope.")] = None,
    year: Annotated[int | None, typer.Option(help="Benefit year in scope.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Write summary.json, households.csv and chart.png here.")] = None,
    json_out: JsonOption = False,
    engine: Annotated[str, typer.Option(
        help="fast (column-wise), exact (replay through the aggregates), or both (and "
             "check they agree).")] = "fast",
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Re-decide the recorded history under patched policies; nothing is written."""
    from adapters.policy_files import apply_patch, read_toml
    from adapters.whatif import (
        Scope,
        compare_claims,
        exact_whatif,
        read_history,
        report,
        write_outputs,
    )
    from adapters.whatif_fast import ClaimsFacts, baseline_from_views, fast_whatif

    if engine not in ("fast", "exact", "both"):
        _fail(f"--engine must be fast, exact or both; got {engine!r}", 2)
    book = _book(policies)
    try:
        patch = read_toml(policy)
        reform = apply_patch(book, patch, str(policy), region, year)
    except PolicyError as e:
        _fail(f"policy patch: {e}", 2)
    scope = Scope(region, year)
    if not any(p.version.endswith("+whatif") for p in reform):
        _fail(f"no policy in force matches the scope ({scope})", 1)
    with _ledger(db, policies) as ledger:
        fast = exact = None
        if engine in ("fast", "both"):
            with _views(ledger, db) as views:
                catch_up(ledger.app, views)
                facts = ClaimsFacts(views.engine, scope)
                baseline = baseline_from_views(views.engine, scope, facts, views.personal)
                fast = fast_whatif(views.engine, scope, baseline, reform, patch, ledger.app,
                                   facts, views.personal)
        if engine in ("exact", "both"):
            history = read_history(ledger.app, book, scope)
            baseline = history.baseline
            exact = exact_whatif(history, reform)
    side = fast if fast is not None else exact
    summary = report(scope, baseline, side, engine)
    disagreements = compare_claims(exact.claims, fast.claims) if fast and exact else []
    if engine == "both":
        summary["engines_agree"] = not disagreements
        summary["disagreements"] = len(disagreements)
    if out_dir is not None:
        written = write_outputs(out_dir, summary, scope, baseline, side)
        err.print("wrote " + ", ".join(str(p) for p in written))
    if json_out:
        out.print_json(data=summary)
    else:
        table = Table(title=f"What-if {policy.name}, {scope}")
        table.add_column("")
        table.add_column("value", justify="right")
        for k, v in summary.items():
            table.add_row(k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list)
                          else str(v))
        out.print(table)
    if disagreements:
        for d in disagreements[:20]:
            err.print(f"engines disagree on claim {d['claim_id']}: exact {d['exact']}, "
                      f"fast {d['fast']}", highlight=False)
        raise typer.Exit(1)


RegionOption = Annotated[str | None, typer.Option("--region", help="Region code or prefix.")]
YearOption = Annotated[int | None, typer.Option("--year")]


def _region_report(query: Any, title: str, region: str | None, year: int | None,
                   json_out: bool, csv_out: bool, db: str | None,
                   policies: Path | None) -> None:
    rows = _from_views(db, policies, query, region, year)
    _report(rows, f"{title} {region or 'all regions'} {year or ''}".strip(), json_out, csv_out)


@report_app.command("fund")
def report_fund(region: RegionOption = None, year: YearOption = None,
                json_out: JsonOption = False, csv_out: CsvOption = False, db: DbOption = None,
                policies: PoliciesOption = None) -> None:
    """Contributions by channel, subsidies by identity, refunds, reimbursements, fiscal due."""
    _region_report(queries.fund_report, "Fund ledger", region, year, json_out, csv_out, db,
                   policies)


@report_app.command("enrollment")
def report_enrollment(region: RegionOption = None, year: YearOption = None,
                      json_out: JsonOption = False, csv_out: CsvOption = False,
                      db: DbOption = None, policies: PoliciesOption = None) -> None:
    """Registered, enrolled, covered and rate per identity, against the 99% target (seed 004)."""
    _region_report(queries.enrollment_report, "Enrollment", region, year, json_out, csv_out,
                   db, policies)


@views_app.command("status")
def views_status(json_out: JsonOption = False, db: DbOption = None,
                 policies: PoliciesOption = None) -> None:
    """Each view's tracked position and how far it lags the log."""
    with _ledger(db, policies) as ledger, _views(ledger, db) as views:
        rows = status(ledger.app, views)
    _report(rows, "Views", json_out, False)


@views_app.command("rebuild")
def views_rebuild(
    name: Annotated[str | None, typer.Argument(help=f"One of {', '.join(VIEWS)}; all if omitted.")]
    = None,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Drop the view(s) and rebuild from the log, with a progress bar on a terminal."""
    if name is not None and name not in VIEWS:
        _fail(f"invalid_input: unknown view {name!r}; one of {', '.join(VIEWS)}")
    names = [name] if name else list(VIEWS)
    with _ledger(db, policies) as ledger, _views(ledger, db) as views:
        head = ledger.app.recorder.max_notification_id() or 0
        views.reset(names)
        progress = Progress(TextColumn("[bold]rebuild[/bold]"), BarColumn(),
                            MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                            disable=not err.is_terminal)
        with progress:
            task = progress.add_task("rebuild", total=head)
            reached = 0
            while reached < head:
                reached = catch_up(ledger.app, views, stop=min(head, reached + 20_000),
                                   freeze_gc=True)
                progress.update(task, completed=reached)
        rows = status(ledger.app, views)
    err.print(f"rebuilt {', '.join(names)} to position {head}")
    _report(rows, "Views", False, False)


@audit_app.command("trail")
def audit_trail_command(
    person: Annotated[str, typer.Argument(
        metavar="PERSON|HEAD", help="A person's ID; a head's ID covers the whole household.")],
    year: Annotated[int, typer.Option("--year", help="Benefit year.")],
    json_out: JsonOption = False,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """The explained history: each fact, each decision, the rule and the seed sentence behind
    it, in log order."""
    from adapters.trail import audit_trail, trail_renderables

    with _ledger(db, policies) as ledger:
        try:
            trail = audit_trail(ledger, person, year)
        except Rejected as e:
            _fail(f"{e.reason}: {e.message}", asked=person)
    if json_out:
        out.print_json(data=trail)
        return
    for block in trail_renderables(trail):
        out.print(block, highlight=False)


@key_app.command("create")
def key_create() -> None:
    """Print a new random AES key (32 bytes, base64) for BENEFITPOOL_CIPHER_KEY."""
    from adapters.personal import create_key

    typer.echo(create_key())
    err.print("Set it as BENEFITPOOL_CIPHER_KEY before the store's first write and keep it "
              "outside the database: without it the store cannot be read.", highlight=False)


# --- the HTTP API: serve, tokens -------------------------------------------------------------

token_app = typer.Typer(no_args_is_help=True,
                        help="API tokens for the HTTP API (benefitpool serve).")
app.add_typer(token_app, name="token")


def _tokens(db: str | None) -> Any:
    from adapters.tokens import open_tokens

    url = database_url(db)
    if url.startswith("memory:"):
        _fail("tokens need a store that outlives the command, e.g. sqlite:///benefitpool.db", 2)
    try:
        return open_tokens(url)
    except LedgerError as e:
        _fail(str(e), 2)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(
        "--role", help="clinic, agency, auditor, analyst or admin.")],
    region: Annotated[str, typer.Option(
        "--region", help="Region code prefix the token works in (clinic and agency need one; "
                         "empty: every region).")] = "",
    label: Annotated[str | None, typer.Option("--label", help="A note: who holds it.")] = None,
    db: DbOption = None,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    from adapters.tokens import TokenError

    store = _tokens(db)
    try:
        secret, token = store.create(role, region, label)
    except TokenError as e:
        _fail(str(e), 2)
    finally:
        store.engine.dispose()
    sys.stdout.write(secret + "\n")
    err.print(f"token {token.id}: role {token.role}, region {token.region or 'all'}"
              f"{', ' + token.label if token.label else ''}. It is shown only now: keep it "
              "safe; send it as Authorization: Bearer <token>.", highlight=False, markup=False)


@token_app.command("list")
def token_list(json_out: JsonOption = False, db: DbOption = None) -> None:
    """Every token: id, role, region, label, created, revoked (never the secret)."""
    store = _tokens(db)
    try:
        rows = [t.as_dict() for t in store.list()]
    finally:
        store.engine.dispose()
    _report(rows, "API tokens", json_out, False)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(metavar="ID")],
                 db: DbOption = None) -> None:
    """Revoke a token at once."""
    from adapters.tokens import TokenError

    store = _tokens(db)
    try:
        token = store.revoke(token_id)
    except TokenError as e:
        _fail(str(e))
    finally:
        store.engine.dispose()
    err.print(f"token {token.id} ({token.role}, region {token.region or 'all'}) revoked "
              f"{token.revoked_at}", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Worker processes (each with its own ledger).")] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    ledger_process: Annotated[bool, typer.Option(
        help="Apply commands in one ledger process that every worker sends them to (the "
             "default); without it each worker applies its own.")] = True,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json); every endpoint but /health needs a
    token from `benefitpool token create`."""
    import uvicorn

    from adapters.http import create_app, log_config
    from adapters.ledger_process import LedgerProcess

    if log_level not in ("debug", "info", "warning", "error"):
        _fail(f"--log-level must be debug, info, warning or error; got {log_level!r}", 2)
    url = database_url(db)
    book = _book(policies)
    try:
        api = create_app(url, book, long_running=True)  # opens the store, creates tables
    except (StoreError, LedgerError) as e:
        _fail(str(e), 2)
    except Exception as e:  # the store library raises its own error types
        _fail(f"cannot open the store {url}: {e}", 2)
    if not api.state.service.tokens.list():
        err.print("warning: no API tokens yet; create one with "
                  "`benefitpool token create --role admin`", highlight=False, markup=False)
    config = log_config(log_level)
    if not ledger_process:
        if workers == 1:
            try:
                uvicorn.run(api, host=host, port=port, log_config=config, log_level=log_level)
            finally:
                api.state.service.close()
            return
        api.state.service.close()
        _serve_workers(url, policies, host, port, workers, config, log_level, None)
        return
    api.state.service.close()  # it checked the store; the ledger process writes to it
    try:
        process = LedgerProcess(url, str(policies) if policies is not None else None)
    except LedgerError as e:
        _fail(str(e), 2)
    with process:
        if workers > 1:
            _serve_workers(url, policies, host, port, workers, config, log_level,
                           process.address)
            return
        api = create_app(url, book, long_running=True, ledger_address=process.address)
        try:
            uvicorn.run(api, host=host, port=port, log_config=config, log_level=log_level)
        finally:
            api.state.service.close()


def _serve_workers(url: str, policies: Path | None, host: str, port: int, workers: int,
                   config: dict[str, Any], log_level: str, ledger_address: str | None
                   ) -> None:
    """`workers` server processes on one port (each builds its app from the environment)."""
    import uvicorn

    from adapters.http import LEDGER_SOCKET_ENV

    os.environ["BENEFITPOOL_DB"] = url
    if policies is not None:
        os.environ["BENEFITPOOL_POLICIES"] = str(policies)
    if ledger_address is not None:
        os.environ[LEDGER_SOCKET_ENV] = ledger_address
    uvicorn.run("adapters.http:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_config=config, log_level=log_level)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
