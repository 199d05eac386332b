"""`benefitpool policy list|show`: the policies the ledger decides by."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer

from adapters.cli.common import JsonOption, PoliciesOption, book, fail, out
from adapters.cli.tables import Table

policy_app = typer.Typer(no_args_is_help=True, help="Show the policies the ledger decides by.")


@policy_app.command("list")
def policy_list(policies: PoliciesOption = None, json_out: JsonOption = False) -> None:
    """Every policy version loaded, newest in force."""
    policy_book = book(policies)
    in_force = {p.ref for p in policy_book.in_force()}
    rows = [{"id": p.id, "version": p.version, "region": p.region, "year": p.year,
             "seed": p.seed, "individual": str(p.contribution.individual),
             "in_force": p.ref in in_force, "assumptions": len(p.assumptions),
             "hash": p.content_hash[:12]} for p in policy_book]
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
    from domain.rules.citations import cap_example

    policy_book = book(policies)
    policy = policy_book.find(region, year)
    if policy is None:
        fail(f"no_policy: no policy for region {region} in {year}")
    raw = _plain(policy_book.raw(policy))
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
            each = policy.outpatient.per_person_cap if policy.outpatient else None
            example = cap_example(note, each) if section == "outpatient" and each else None
            table.add_row(k, json.dumps(v, ensure_ascii=False),
                          f"{note} ({example})" if example else note)
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
