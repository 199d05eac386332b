"""The `benefitpool` command line: one module per command group, each command translating its
options into one use case and its result into text, JSON or CSV."""

from __future__ import annotations

import typer

from adapters.cli.access import key_app, serve, token_app
from adapters.cli.audit import audit_app, replay
from adapters.cli.county import demo, generate, ingest
from adapters.cli.policy import policy_app
from adapters.cli.queries import household, person, report_app, views_app
from adapters.cli.regions import deployment_app
from adapters.cli.stats import stats
from adapters.cli.whatif import whatif

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Household benefit-pool ledger for resident basic medical insurance.")
for command in (ingest, household, person, generate, demo, replay, whatif, serve, stats):
    app.command()(command)
app.add_typer(policy_app, name="policy")
app.add_typer(report_app, name="report")
app.add_typer(views_app, name="views")
app.add_typer(audit_app, name="audit")
app.add_typer(key_app, name="key")
app.add_typer(token_app, name="token")
app.add_typer(deployment_app, name="deployment")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
