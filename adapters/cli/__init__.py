"""The `benefitpool` command line: one module per command group, each command translating its
options into one use case and its result into text, JSON or CSV.

A command's module is imported only when that command runs (or its own `--help` is asked):
`benefitpool --help` lists the commands from `COMMANDS` below without importing any of them,
and a query imports neither the PostgreSQL driver, the columnar store, Dask, NumPy nor the
server unless it uses them (issue 16; figures in docs/benchmarks.md).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from adapters.cli.conversion import use_plain_conversion

#: Every command: its name, the module and attribute that define it (a function or a group of
#: commands), and the one sentence `benefitpool --help` shows for it.
COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("ingest", "adapters.cli.county", "ingest",
     "Apply a command file: one result per line; a rejected line records nothing."),
    ("household", "adapters.cli.lookups", "household",
     "A household's members, pooled outpatient cap, what is used and what is left."),
    ("person", "adapters.cli.lookups", "person",
     "A person's name, enrollment, payments, subsidy, refunds and reimbursement."),
    ("households", "adapters.cli.search", "households",
     "Find households by region, year, name, identity or what is left of the pool."),
    ("persons", "adapters.cli.search", "persons",
     "Find persons by region, year, name, identity or what is left of their pool."),
    ("generate", "adapters.cli.county", "generate",
     "Write a synthetic county's history as a command file."),
    ("demo", "adapters.cli.county", "demo",
     "Generate a synthetic county, ingest it into the store and summarise it."),
    ("replay", "adapters.cli.audit", "replay",
     "Write the recorded history back as a command file that rebuilds the same ledger."),
    ("whatif", "adapters.cli.whatif", "whatif",
     "Re-decide the recorded history under patched policies; nothing is written."),
    ("serve", "adapters.cli.access", "serve",
     "Serve the HTTP API, with its documentation at /docs."),
    ("stats", "adapters.cli.stats", "stats",
     "Events by type and the bytes per event of every table and index."),
    ("policy", "adapters.cli.policy", "policy_app",
     "Show the policies the ledger decides by."),
    ("report", "adapters.cli.queries", "report_app",
     "Fund and enrollment reports from the views."),
    ("views", "adapters.cli.queries", "views_app",
     "Operate the read models."),
    ("audit", "adapters.cli.audit", "audit_app",
     "What auditors read: the explained history of the ledger."),
    ("key", "adapters.cli.access", "key_app",
     "The cipher key of personal data (ADR 21)."),
    ("token", "adapters.cli.access", "token_app",
     "API tokens for the HTTP API (benefitpool serve)."),
    ("deployment", "adapters.cli.regions", "deployment_app",
     "A deployment of one store per pooling region."),
    ("shadow", "adapters.cli.shadow", "shadow_app",
     "Candidate rules decided beside the live ledger (shadow rules)."),
)
_BY_NAME = {name: (module, attribute, text) for name, module, attribute, text in COMMANDS}


def load_command(name: str) -> Any:
    """The click command of `benefitpool NAME`, its module imported now (None if unknown)."""
    if name not in _BY_NAME:
        return None
    module, attribute, _ = _BY_NAME[name]
    target = getattr(import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name=name)(target)
        command = typer.main.get_command(single)
    command.name = name
    _plain_placeholders(command)
    return command


def _quiet_flag(option: Any) -> Any:
    if option is not None and getattr(option, "is_flag", False):
        option.metavar = ""  # typer would show a flag as `<bool>`
        use_plain_conversion(option)  # `--help` left out costs no pydantic either
    return option


def _usage_name(argument: Any) -> Any:
    """An argument as the usage line shows it: `FILE` when required, `[NAME]` when not, `...`
    when it takes several (typer's own shows a required one as `{FILE}`)."""

    def shown() -> str:
        name = argument.metavar
        name = name if argument.required else f"[{name}]"
        return name + ("..." if argument.nargs != 1 else "")

    return shown


def _plain_placeholders(command: Any) -> None:
    """Help as a user reads it: arguments as `FILE` (not `{FILE}`) in the usage line and the
    list of arguments, flags without `<bool>`; text and small numbers converted plainly."""
    for child in (getattr(command, "commands", None) or {}).values():
        _plain_placeholders(child)
    for param in command.params:
        use_plain_conversion(param)  # no pydantic for a text or a small number (ADR 97)
        if param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            param._usage_display_name = _usage_name(param)  # typer writes `{FILE}`
        _quiet_flag(param)
    shown = command.get_help_option
    command.get_help_option = lambda ctx: _quiet_flag(shown(ctx))


class LazyGroup(TyperGroup):
    """The top-level group: lists `COMMANDS` by their sentence, imports a command's module
    only to run it or show its own help."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [name for name, *_ in COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if self._listing and cmd_name in _BY_NAME:
            return TyperCommand(name=cmd_name, help=_BY_NAME[cmd_name][2], callback=None)
        command = load_command(cmd_name)
        if command is not None:
            self.commands[cmd_name] = command
        return command

    def get_help_option(self, ctx: Any) -> Any:
        return _quiet_flag(super().get_help_option(ctx))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(cls=LazyGroup, add_completion=False, no_args_is_help=True,
                  help="Household benefit-pool ledger for resident basic medical insurance.")


@app.callback()
def _root() -> None:
    """Household benefit-pool ledger for resident basic medical insurance."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
