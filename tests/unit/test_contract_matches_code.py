"""docs/contract.md, the command line and the code agree (issue 16): every command and option
of the CLI is documented and every documented option exists; every reason code the code
raises is documented and every code of the contract's table is in the code. The codes are read
from the source, so a new one is checked as soon as it is raised."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.cli import COMMANDS, load_command

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
SOURCES = ("domain", "projections", "adapters")
CODE = re.compile(r"[a-z][a-z_]*[a-z]")
#: Prefixes of CLI messages that name a thing, not a reason: `policy: FILE: field …`.
NOT_CODES = frozenset({"policy"})


def commands() -> Iterator[tuple[str, Any]]:
    """(`benefitpool …` path, click command) of every command, groups walked."""
    def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                yield from walk(child, f"{path} {name}")
        else:
            yield path, command

    for name, *_ in COMMANDS:
        yield from walk(load_command(name), name)


def options() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path, command in commands():
        for param in command.params:
            for option in (*param.opts, *param.secondary_opts):
                if option.startswith("--") and option != "--help":
                    found.setdefault(option, set()).add(path)
    return found


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0],
                                                                       ast.Constant):
        return str(node.values[0].value)
    return None


def raised_codes() -> dict[str, set[str]]:
    """Each reason code the source gives a refusal (`Rejected(code, …)`, `reason=code`,
    `ApiError(status, code, …)`, `error(status, code, …)`, `fail("code: …")`), and where."""
    found: dict[str, set[str]] = {}
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                texts = [_text(k.value) for k in node.keywords if k.arg == "reason"]
                if name == "Rejected" and node.args:
                    texts.append(_text(node.args[0]))
                if name in ("ApiError", "error") and len(node.args) > 1:
                    texts.append(_text(node.args[1]))
                if name == "fail" and node.args:
                    prefix = re.match(r"([a-z_]+): ", _text(node.args[0]) or "")
                    texts.append(prefix.group(1) if prefix else None)
                for text in texts:
                    if text and CODE.fullmatch(text) and text not in NOT_CODES:
                        found.setdefault(text, set()).add(str(path.relative_to(ROOT)))
    return found


def documented_table_codes() -> set[str]:
    table = CONTRACT.split("## Reason codes", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))


def test_every_command_of_the_cli_is_in_the_contract() -> None:
    flat = " ".join(CONTRACT.split())
    missing = [path for path, _ in commands()
               if f"benefitpool {path}" not in flat and f"`{path} " not in flat]
    assert not missing


def test_every_option_of_the_cli_is_in_the_contract() -> None:
    missing = {o: sorted(p) for o, p in options().items()
               if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", CONTRACT)}
    assert not missing


def test_every_option_the_contract_names_is_an_option_of_the_cli() -> None:
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", CONTRACT))
    assert named - set(options()) == set()


def test_every_reason_code_the_code_gives_is_in_the_contract() -> None:
    codes = raised_codes()
    assert {"invalid_input", "unknown_person", "store_not_found", "forbidden"} <= set(codes)
    missing = {c: sorted(p) for c, p in codes.items() if f"`{c}`" not in CONTRACT}
    assert not missing


def test_every_reason_code_of_the_contracts_table_is_in_the_code() -> None:
    source = "".join(p.read_text(encoding="utf-8") for folder in SOURCES
                     for p in (ROOT / folder).rglob("*.py"))
    table = documented_table_codes()
    assert "invalid_input" in table
    absent = {c for c in table if f'"{c}"' not in source and f"'{c}'" not in source}
    # the contract keeps a code no longer returned, saying so (extend, never rename)
    retired = {c for c in absent if re.search(rf"`{c}` \| no longer returned", CONTRACT)}
    assert absent - retired == set()


def test_the_batch_size_the_contract_states_is_the_clis_default() -> None:
    ingest = load_command("ingest")
    default = next(p.default for p in ingest.params if p.name == "batch_size")
    assert f"default {default})" in CONTRACT or f"default {default}," in CONTRACT
