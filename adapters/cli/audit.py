"""`benefitpool audit verify|trail` and `replay`: what auditors read."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.text import Text
from rich.tree import Tree

from adapters.cli.cluster import partitioned, parts_progress, replay_cluster, source_for
from adapters.cli.common import (
    AtPositionOption,
    DbOption,
    DeploymentOption,
    JsonOption,
    PoliciesOption,
    RequiredYearOption,
    SchedulerOption,
    WorkersOption,
    book,
    database_url,
    err,
    fail,
    opened_ledger,
    opened_views,
    out,
)
from adapters.cli.regions import audit_deployment_cli, deployment_in_use
from adapters.cli.tables import Table
from domain.errors import LedgerError, Rejected

audit_app = typer.Typer(no_args_is_help=True,
                        help="What auditors read: the explained history of the ledger.")


#: What a problem line names, in this order: where in the log, whose stream, what.
_WHERE = ("position", "stream", "version", "event", "view", "table", "person",
          "household_head", "year", "household", "claim")


def _problem_line(p: dict[str, Any]) -> str:
    shown = {**p, "stream": p.get("stream") or p.get("originator_id")}
    where = " ".join(f"{k}={shown[k]}" for k in _WHERE if shown.get(k) is not None)
    return f"[{p['kind']}] {where}: {p['message']}"


def _seal(text: str | None) -> Any:
    from adapters.stores.chain import Seal

    if text is None:
        return None
    position, _, link = text.partition(":")
    if not position.isdigit() or len(link) != 64:
        fail(f"--expect-seal must be POSITION:LOGLINK (64 hex digits), as printed by a "
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
    deployment: DeploymentOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Check the hash chain, re-decide every recorded decision under the policy version that
    took it, and compare every view with its rebuild. Exit 0 when clean, 1 otherwise, 2 when
    the audit cannot run (a key not the store's, a Dask scheduler out of reach). Over a
    deployment: every region's store, and the directory against them."""
    from adapters.usecases.audit import (
        AuditUnavailable,
        decisions_in_own_process,
        fresh_in_own_process,
        run_audit,
    )

    regions = deployment_in_use(deployment, db)
    if regions is not None:
        if at_position is not None or expect_seal is not None:
            fail("invalid_input: a deployment's regions have logs of their own: audit a "
                 "position or a seal of one region's store with its own --db", 2)
        result = audit_deployment_cli(regions, policies, workers, scheduler, views)
        if json_out:
            out.print_json(data=result)
        else:
            for prefix, report in result["regions"].items():
                if "unavailable" in report:
                    err.print(f"region {prefix}: {report['unavailable']['message']}")
                else:
                    _print_audit(report, regions.by_prefix(prefix).url)
            _print_directory(result["directory"], regions.directory)
        if result["problems"]:
            raise typer.Exit(1)
        return
    policy_book = book(policies)
    seal = _seal(expect_seal)
    source = (source_for(database_url(db), policies, policy_book)
              if partitioned(workers, scheduler) else None)
    with opened_ledger(db, policies) as ledger, replay_cluster(workers, scheduler) as client, \
            parts_progress("re-deciding", client) as progress:
        check = decisions_in_own_process
        fresh = fresh_in_own_process
        if client is not None:
            from adapters.parallel.replays import dask_decisions, dask_fresh_views

            check = dask_decisions(client, source, progress)
            fresh = dask_fresh_views(client, source)
        try:
            if views:
                with opened_views(ledger, db) as live:
                    result = run_audit(ledger.app, policy_book, live, at_position, seal, check,
                                       client is not None, fresh)
            else:
                result = run_audit(ledger.app, policy_book, None, at_position, seal, check,
                                   client is not None)
        except AuditUnavailable as e:
            fail(str(e), 2)
        except LedgerError as e:  # from a worker: a store or policies it cannot open
            fail(f"{getattr(e, 'reason', 'audit_unavailable')}: {e}", 2)
    if json_out:
        out.print_json(data=result)
    else:
        _print_audit(result, database_url(db))
    if result["problems"]:
        raise typer.Exit(1)


def _print_directory(found: dict[str, Any], url: str) -> None:
    checked = ", ".join(f"{v} {k}" for k, v in found["checked"].items())
    err.print(f"directory {url}: {checked}; {len(found['problems'])} problem(s)")
    for p in found["problems"][:20]:
        err.print(f"  {p['kind']}: {p['message']}")


def _print_audit(result: dict[str, Any], url: str) -> None:
    checks = {k: result[k] for k in ("chain", "decisions", "views", "enrollments")
              if k in result}
    table = Table(title=f"Audit of {url} at position {result['position']}")
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
    problems = result["problems"]
    out.print("clean" if problems == 0 else f"{problems} discrepancies", highlight=False)


@audit_app.command("trail")
def audit_trail_command(
    person: Annotated[str, typer.Argument(
        metavar="PERSON|HEAD", help="A person's ID; a head's ID covers the whole household.")],
    year: RequiredYearOption,
    json_out: JsonOption = False,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """The explained history: each fact, each decision, the rule and the seed sentence behind
    it, in log order."""
    from adapters.usecases.trail import audit_trail

    with opened_ledger(db, policies) as ledger:
        try:
            trail = audit_trail(ledger.app, ledger.policies, person, year)
        except Rejected as e:
            fail(f"{e.reason}: {e.message}", asked=person)
    if json_out:
        out.print_json(data=trail)
        return
    for block in trail_renderables(trail):
        out.print(block, highlight=False)


def replay(
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write the commands here (default: standard output).")] = None,
    at_position: AtPositionOption = None,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Write the recorded history back as contract commands (JSON Lines): ingesting the file
    into an empty store rebuilds the same ledger."""
    from adapters.usecases.export import export_commands

    with opened_ledger(db, policies) as ledger:
        sink = out_file.open("w", encoding="utf-8") if out_file else sys.stdout
        try:
            n = export_commands(ledger.app, sink, upto=at_position)
        finally:
            if out_file:
                sink.close()
    err.print(f"{n} commands")





def trail_renderables(trail: dict[str, Any]) -> list[RenderableType]:
    """The trail for a terminal: a heading, then one block per entry (position, date, kind,
    whose fact, the decision, the rule and the seed sentences behind it). Names are shown in
    registration entries only."""
    scope = (f"household of {trail['household_head']}" if trail["scope"] == "household"
             else f"member of the household of {trail['household_head']}"
             if trail["household_head"] != trail["person"] else "own household")
    heading = Text.assemble(
        ("Audit trail ", "bold"), (trail["person"], "bold"), f" — {trail['year']}, {scope}, "
        f"region {trail['region']}, {len(trail['entries'])} entries")
    blocks: list[RenderableType] = [heading]
    for entry in trail["entries"]:
        blocks.append(_entry_tree(entry))
    return blocks


def _entry_tree(entry: dict[str, Any]) -> RenderableType:
    day = (entry["at"] or entry["recorded_at"])[:10]
    label = Text.assemble((f"#{entry['position']}", "cyan"), f"  {day}  ",
                          (entry["kind"], "bold"), f"  {entry['person']}")
    tree = Tree(label)
    facts = dict(entry["facts"])
    if entry["kind"] != "Registered":
        facts.pop("name", None)
    if facts:
        tree.add(Text("facts: ") + Text(_pairs(facts), style="dim"))
    if entry["decision"]:
        tree.add(Text("decision: ") + Text(_pairs(entry["decision"]), style="green"))
    if entry["rule"]:
        rule = f"rule: {entry['rule']}"
        if entry["policy_hash"]:
            rule += f"  hash {entry['policy_hash'][:12]}"
            if entry["policy_hash_loaded"] and entry["policy_hash_loaded"] != entry["policy_hash"]:
                rule += f" (loaded now: {entry['policy_hash_loaded'][:12]})"
        tree.add(Text(rule))
    if entry["explanation"]:
        tree.add(Text(f"why: {entry['explanation']}", style="italic"))
    if entry.get("note"):
        tree.add(Text(entry["note"], style="yellow"))
    if entry["because"]:
        because = tree.add(Text("because"))
        for b in entry["because"]:
            source = b["source"] or "(no seed sentence or assumption noted)"
            example = f" ({b['example']})" if b.get("example") else ""
            because.add(Text.assemble((b["field"], "magenta"),
                                      f" [{', '.join(b['decides'])}]: ", source,
                                      (example, "italic")))
    return tree


def _pairs(values: dict[str, Any]) -> str:
    parts = []
    for k, v in values.items():
        if isinstance(v, dict):
            v = "{" + _pairs(v) + "}"
        parts.append(f"{k}={'—' if v is None else v}")
    return ", ".join(parts)
