"""`--help` names every argument as a user types it (issue 16, item 9): `FILE`, `[NAME]`,
never typer's `{FILE}` placeholder, in the usage line of every command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.cli import COMMANDS, load_command
from tests.support.cli import run_cli


def every_command() -> list[tuple[list[str], Any]]:
    """Each command's words (`["audit", "trail"]`) and its click command, groups walked."""
    found: list[tuple[list[str], Any]] = []

    def walk(words: list[str], command: Any) -> None:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                walk([*words, name], child)
        else:
            found.append((words, command))

    for name, *_ in COMMANDS:
        walk([name], load_command(name))
    return found


def test_every_usage_line_names_its_arguments_without_braces(tmp_path: Path) -> None:
    checked = 0
    for words, command in every_command():
        shown = run_cli(*words, "--help", cwd=tmp_path).stdout
        usage = next(line for line in shown.splitlines() if "Usage:" in line)
        assert "{" not in usage and "}" not in usage, usage
        for param in command.params:
            if param.param_type_name != "argument":
                continue
            expected = param.metavar if param.required else f"[{param.metavar}]"
            assert f" {expected}" in usage, (words, usage)
            checked += 1
    assert checked >= 5  # household, person, ingest, policy show (2), audit trail, …
