"""The layout's rules that import-linter cannot state: the domain uses only the library's
domain model, the environment is read in one module, and every module stays small."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "projections", "adapters")
MAX_LINES = 500


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_domain_uses_only_the_event_sourcing_librarys_domain_model() -> None:
    used = {name for path in _modules("domain") for name in _imported(path)
            if name.split(".")[0] == "eventsourcing"}
    assert used == {"eventsourcing.domain"}


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = []
    for path in _modules(*PACKAGES):
        text = path.read_text(encoding="utf-8")
        if "os.environ" in text or "getenv(" in text:
            readers.append(path.relative_to(ROOT).as_posix())
    assert readers == ["adapters/settings.py"]


def test_no_module_of_the_three_packages_is_longer_than_500_lines() -> None:
    long = {path.relative_to(ROOT).as_posix(): n for path in _modules(*PACKAGES)
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
