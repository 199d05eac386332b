"""`benefitpool whatif`: the recorded history re-decided under a policy patch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.cli.cluster import partitioned, parts_progress, replay_cluster, source_for
from adapters.cli.common import (
    DbOption,
    DeploymentOption,
    JsonOption,
    PoliciesOption,
    SchedulerOption,
    WorkersOption,
    book,
    database_url,
    err,
    fail,
    opened_columnar,
    opened_ledger,
    opened_views,
    out,
)
from adapters.cli.regions import deployment_in_use, whatif_deployment_cli
from adapters.cli.tables import Table
from adapters.usecases.whatif import ENGINES, WhatIf, WhatIfRefused, reform_of, run_whatif
from adapters.whatif.behaviour import Behaviour
from adapters.whatif.exact import Scope
from domain.errors import LedgerError, PolicyError
from domain.policy_book import PolicyBook
from domain.rules.behaviour import BEHAVIOURS, PAY_NEW_DUE
from projections.views import ViewsDamaged


def whatif(
    policy: Annotated[list[Path], typer.Option(
        "--policy", help="The patch (TOML) to apply; several compare reforms side by side, "
        "each named by its file name.")],
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
    deployment: DeploymentOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    behaviour: Annotated[str, typer.Option(
        "--behaviour", help="pay-new-due (payers who were covered pay what the reform makes "
        "due, on the days they paid) or recorded (the recorded payments as they are).")
    ] = PAY_NEW_DUE,
    elasticity: Annotated[str | None, typer.Option(
        "--take-up-elasticity", help="Change of enrollment per 1% change of the net due "
        "(e.g. -0.2): payers whose due rises drop out with that probability.")] = None,
    seed: Annotated[int, typer.Option(
        help="Seed of the drop-outs' draw (with --take-up-elasticity).")] = 0,
    show_ids: Annotated[bool, typer.Option(
        "--show-ids", help="Write heads' full ID numbers in households.csv (for an "
        "administrator; masked otherwise).")] = False,
) -> None:
    """Re-decide the recorded history under patched policies; nothing is written. Over a
    deployment, every region under --region is re-decided by its own store and merged."""
    from adapters.stores.policy_files import read_toml
    from adapters.whatif.outputs import write_outputs

    if engine not in ENGINES:
        fail(f"--engine must be fast, exact or both; got {engine!r}", 2)
    chosen = behaviour_of(behaviour, elasticity, seed)
    policy_book = book(policies)
    named = []
    for name, path in named_patches(policy):
        try:
            patch = read_toml(path)
            named.append((name, path, patch,
                          reform_of(policy_book, patch, str(path), region, year)))
        except PolicyError as e:
            fail(f"policy patch: {e}", 2)
        except WhatIfRefused as e:
            fail(e.message, 2 if e.reason == "invalid_input" else 1)
    regions = deployment_in_use(deployment, db)
    results = []
    for name, path, patch, reform in named:
        if regions is not None:
            with _views_whole():
                result = whatif_deployment_cli(regions, policies, reform, patch,
                                               Scope(region, year), engine, workers,
                                               scheduler, (policy_book, chosen))
        else:
            result = _one_store(db, policies, policy_book, reform, patch, Scope(region, year),
                                engine, (workers, scheduler, str(path)), chosen)
        results.append((name, result))
    if len(results) == 1:
        result = results[0][1]
        if out_dir is not None:
            written = write_outputs(out_dir, result.summary, result.scope, result.baseline,
                                    result.reform, show_ids)
            err.print("wrote " + ", ".join(str(p) for p in written))
        _print(result, policy[0].name, json_out)
    else:
        _compare(results, out_dir, show_ids, json_out)
    disagreements = [d for _, r in results for d in r.disagreements]
    if disagreements:
        for d in disagreements[:20]:
            err.print(f"engines disagree on claim {d['claim_id']}: exact {d['exact']}, "
                      f"fast {d['fast']}", highlight=False)
        raise typer.Exit(1)


def named_patches(paths: list[Path]) -> list[tuple[str, Path]]:
    """Each patch named by its file name without the suffix; two of one name exit 2."""
    names = [p.stem for p in paths]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        fail(f"--policy: two patches are named {', '.join(twice)}; give each reform a file "
             "name of its own", 2)
    return list(zip(names, paths, strict=True))


def _compare(results: list[tuple[str, WhatIf]], out_dir: Path | None, show_ids: bool,
             json_out: bool) -> None:
    """Several reforms: one comparison printed, and under --out each reform's files in a
    folder of its name beside the comparison's."""
    from adapters.whatif.compare import COLUMNS, comparison, write_comparison
    from adapters.whatif.outputs import write_outputs

    compared = comparison([(name, r.summary) for name, r in results])
    if out_dir is not None:
        written = [p for name, r in results for p in write_outputs(
            out_dir / name, r.summary, r.scope, r.baseline, r.reform, show_ids)]
        written += write_comparison(out_dir, compared)
        err.print("wrote " + ", ".join(str(p) for p in written))
    if json_out:
        out.print_json(data=compared)
        return
    rows = compared["comparison"]
    table = Table(title=f"What-if, {compared['scope_name']}: {len(results)} reforms")
    table.add_column("")
    for row in rows:
        table.add_column(row["reform"], justify="right")
    for column in ("changes", *COLUMNS):
        table.add_row(column, *(str(row[column]) for row in rows))
    out.print(table)


def behaviour_of(kind: str, elasticity: str | None, seed: int) -> Behaviour:
    """The --behaviour, --take-up-elasticity and --seed options as one behaviour (exit 2
    with a sentence for values out of range)."""
    if kind not in BEHAVIOURS:
        fail(f"--behaviour must be one of {', '.join(BEHAVIOURS)}; got {kind!r}", 2)
    if elasticity is None:
        return Behaviour(kind, None, seed)
    try:
        e = Decimal(elasticity)
    except InvalidOperation:
        fail(f"--take-up-elasticity must be a decimal number such as -0.2; got "
             f"{elasticity!r}", 2)
    if not e.is_finite() or abs(e) > 100:
        fail(f"--take-up-elasticity must be a number between -100 and 100; got {elasticity}",
             2)
    if kind != PAY_NEW_DUE:
        fail("--take-up-elasticity needs --behaviour pay-new-due (payers who stay pay the "
             "new due)", 2)
    return Behaviour(kind, e, seed)


def _one_store(db: str | None, policies: Path | None, policy_book: PolicyBook,
               reform: PolicyBook, patch: dict[str, Any], scope: Scope, engine: str,
               cluster: tuple[int | None, str | None, str], behaviour: Behaviour) -> WhatIf:
    """One store's what-if; the exact engine, and the fast engine's re-derivation of coverage,
    in partitions on Dask when `--workers` or a scheduler is given (ADR 55); a claims-only
    patch read from the columnar store when it has one (ADR 50)."""
    workers, scheduler, patch_source = cluster
    from adapters.whatif.fast import changes_coverage

    use_dask = (engine != "fast" or changes_coverage(patch)) and partitioned(workers, scheduler)
    source = source_for(database_url(db), policies, policy_book) if use_dask else None
    with opened_ledger(db, policies) as ledger, _views_whole(), \
            replay_cluster(workers, scheduler, use_dask) as client, \
            parts_progress("re-deciding", client) as progress:
        sides = timeline = None
        if client is not None:
            from adapters.parallel.replays import dask_exact_sides, dask_timeline

            sides = dask_exact_sides(client, source, patch, patch_source, progress)
            timeline = dask_timeline(client, source, patch, patch_source, progress)
        else:  # a command's process of its own: the collector frozen per batch, as the
            # audit and the region jobs replay (ADR 110)
            from functools import partial

            from adapters.whatif.fast import timeline_by_replay

            timeline = partial(timeline_by_replay, freeze_gc=True)
        try:
            if engine == "exact":
                return run_whatif(ledger.app, None, policy_book, reform, patch, scope, engine,
                                  exact_sides=sides, behaviour=behaviour)
            with opened_views(ledger, db) as views, opened_columnar(ledger, db) as columnar:
                return run_whatif(ledger.app, views, policy_book, reform, patch, scope,
                                  engine, columnar=columnar, exact_sides=sides,
                                  timeline_replay=timeline, behaviour=behaviour)
        except WhatIfRefused:
            raise
        except LedgerError as e:  # from a worker: a store or policies it cannot open
            fail(f"{getattr(e, 'reason', 'whatif_unavailable')}: {e}", 2)


@contextmanager
def _views_whole() -> Iterator[None]:
    try:
        yield
    except ViewsDamaged as e:
        fail(str(e), 1)


#: Summary fields printed as tables of their own on a terminal.
_TABLES = ("fund_flows", "by_region", "changes")


def _print(result: WhatIf, name: str, json_out: bool) -> None:
    if json_out:
        out.print_json(data=result.summary)
        return
    summary = result.summary
    table = Table(title=f"What-if {name}, {summary.get('scope_name') or result.scope}")
    table.add_column("")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        if k in _TABLES:
            continue
        table.add_row(k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list)
                      else str(v))
    out.print(table)
    if summary.get("changes"):
        changes = Table(title="What the patch changes")
        for col in ("field", "old", "new"):
            changes.add_column(col)
        for c in summary["changes"]:
            changes.add_row(c["field"], str(c["old"]), c["new"])
        out.print(changes)
    flows = summary.get("fund_flows")
    if flows:
        sides = ("baseline", "mechanical", "reform", "mechanical_effect",
                 "behavioural_effect", "total_effect")
        ff = Table(title="Fund flows (yuan)")
        ff.add_column("")
        for side in sides:
            ff.add_column(side.replace("_", " "), justify="right")
        for row in flows["baseline"]:
            ff.add_row(row, *(str(flows[side][row]) for side in sides))
        out.print(ff)
    if summary.get("by_region"):
        regions = Table(title="Per county")
        for col in ("region", "name", "covered", "reimbursed", "net"):
            regions.add_column(col, justify="left" if col in ("region", "name") else "right")
        for r in summary["by_region"]:
            regions.add_row(r["region"], r["name"],
                            f"{r['baseline']['covered']} → {r['reform']['covered']}",
                            f"{r['baseline']['reimbursed']} → {r['reform']['reimbursed']}",
                            f"{r['baseline']['net']} → {r['reform']['net']} "
                            f"({r['delta']['net']})")
        out.print(regions)
