"""`benefitpool shadow add|report|list|remove`: candidate rules decided beside the live
ledger, as a read model that never touches it (ADR 86)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.cli.common import (
    DbOption,
    JsonOption,
    PoliciesOption,
    err,
    fail,
    opened_ledger,
    opened_views,
    out,
)
from adapters.cli.tables import Table
from domain.rules.behaviour import RECORDED

shadow_app = typer.Typer(no_args_is_help=True,
                         help="Candidate rules decided beside the live ledger (shadow rules).")


@contextmanager
def _store(ledger: Any, db: str | None) -> Iterator[Any]:
    """The shadow tables beside the views of the ledger's store."""
    from adapters.stores.shadows import ShadowStore

    with opened_views(ledger, db) as views:
        yield ShadowStore(views.engine)


def _refused(e: Any) -> None:
    fail(f"{e.reason}: {e.message}", 1 if e.reason in ("unknown_shadow", "no_policy") else 2)


@shadow_app.command("add")
def shadow_add(
    name: Annotated[str, typer.Argument(help="The shadow's name (a-z, 0-9, - and _).")],
    policy: Annotated[Path, typer.Option("--policy", help="The candidate patch (TOML).")],
    region: Annotated[str | None, typer.Option(help="Region code or prefix in scope.")] = None,
    year: Annotated[int | None, typer.Option(help="Benefit year in scope.")] = None,
    behaviour: Annotated[str, typer.Option(
        "--behaviour", help="recorded (the commands as sent, the default) or pay-new-due "
        "(ADR 81).")] = RECORDED,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """Decide every command from now on also under the candidate rules (nothing is written
    to the ledger)."""
    from adapters.stores.policy_files import read_toml
    from adapters.stores.shadows import ShadowError
    from adapters.usecases.shadow import add_shadow
    from adapters.usecases.whatif import WhatIfRefused
    from domain.errors import PolicyError

    with opened_ledger(db, policies) as ledger:
        try:
            patch = read_toml(policy)
            with _store(ledger, db) as shadows:
                shadow = add_shadow(ledger.app, shadows, ledger.policies, name, patch,
                                    str(policy), region, year, behaviour)
        except PolicyError as e:
            fail(f"policy patch: {e}", 2)
        except (WhatIfRefused, ShadowError) as e:
            _refused(e)
    err.print(f"shadow {shadow.name} decides from position {shadow.added_position + 1} on",
              highlight=False)


@shadow_app.command("report")
def shadow_report(
    name: Annotated[str, typer.Argument(help="The shadow's name.")],
    json_out: JsonOption = False,
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Drop the shadow's rows and fold them again from the log.")
    ] = False,
    db: DbOption = None,
    policies: PoliciesOption = None,
) -> None:
    """What the shadow decided differently since it was added: per claim, per household and
    in total."""
    from adapters.stores.shadows import ShadowError
    from adapters.usecases.shadow import shadow_report as report
    from adapters.usecases.whatif import WhatIfRefused

    with opened_ledger(db, policies) as ledger:
        try:
            with _store(ledger, db) as shadows:
                if rebuild:
                    shadows.forget_rows(name)
                answer = report(ledger.app, shadows, ledger.policies, name)
        except (WhatIfRefused, ShadowError) as e:
            _refused(e)
    if json_out:
        out.print_json(data=answer)
        return
    totals = Table(title=f"Shadow {name}: positions {answer['window']['from_position']}.."
                         f"{answer['window']['to_position']}")
    totals.add_column("")
    totals.add_column("value", justify="right")
    for k, v in answer["totals"].items():
        totals.add_row(k, json.dumps(v) if isinstance(v, dict) else str(v))
    out.print(totals)
    if answer["households"]:
        table = Table(title="Households decided differently")
        for col in ("head", "region", "claims", "recorded_reimbursed", "shadow_reimbursed",
                    "delta"):
            table.add_column(col)
        for h in answer["households"][:50]:
            table.add_row(*(str(h[c]) for c in ("head", "region", "claims",
                                                "recorded_reimbursed", "shadow_reimbursed",
                                                "delta")))
        out.print(table)


@shadow_app.command("list")
def shadow_list(json_out: JsonOption = False, db: DbOption = None,
                policies: PoliciesOption = None) -> None:
    """Every shadow: its scope, when it was added and how far behind the log it is."""
    from adapters.usecases.shadow import shadow_list as listed

    with opened_ledger(db, policies) as ledger, _store(ledger, db) as shadows:
        rows = listed(ledger.app, shadows)
    if json_out:
        out.print_json(data=rows)
        return
    table = Table(title="Shadows")
    for col in ("name", "region", "year", "behaviour", "added_position", "position", "behind",
                "source"):
        table.add_column(col)
    for r in rows:
        table.add_row(*("" if r[c] is None else str(r[c]) for c in (
            "name", "region", "year", "behaviour", "added_position", "position", "behind",
            "source")))
    out.print(table)


@shadow_app.command("remove")
def shadow_remove(name: Annotated[str, typer.Argument(help="The shadow's name.")],
                  db: DbOption = None, policies: PoliciesOption = None) -> None:
    """Stop a shadow and drop its rows (the ledger is untouched)."""
    from adapters.stores.shadows import ShadowError

    with opened_ledger(db, policies) as ledger, _store(ledger, db) as shadows:
        try:
            shadows.remove(name)
        except ShadowError as e:
            _refused(e)
    err.print(f"shadow {name} removed", highlight=False)
