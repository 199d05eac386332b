"""What `benefitpool` loads before it answers (issue 16): `--help` none of the stores; a query
on SQLite neither the PostgreSQL driver, the columnar store, NumPy, matplotlib, Dask nor the
server; and a household or person query on SQLite whose views are current neither SQLAlchemy,
the event library nor pydantic (ADR 96), with the answer the ledger gives. The time it takes
is measured by benchmarks/startup.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.cli import COMMANDS, load_command
from tests.e2e.test_cli import HEAD, SPOUSE, history
from tests.support.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
#: Libraries a command loads only when it uses them.
ON_DEMAND = ("psycopg", "numpy", "matplotlib", "duckdb", "pyarrow", "dask", "distributed",
             "fastapi", "uvicorn", "starlette")
#: What a store-less command has no use for either.
STORES = ("sqlalchemy", "eventsourcing", "cryptography")

PROBE = """
import json, sys
from adapters.cli import app
try:
    app(sys.argv[1:], prog_name="benefitpool")
except SystemExit:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)
"""


def loaded_by(*args: str, cwd: Path) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after `benefitpool *args`."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "COLUMNS": "100",
                                          "PATH": "/usr/bin:/bin"}, timeout=120)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_lists_every_command_without_loading_a_store_or_a_library_of_one(
        tmp_path: Path) -> None:
    loaded = loaded_by("--help", cwd=tmp_path)
    assert not loaded & {*ON_DEMAND, *STORES}


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    """A folder holding `cli.db`, the test history ingested into it (its views not caught up:
    an ingest leaves that to the first query)."""
    commands = tmp_path / "history.jsonl"
    commands.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in history()) + "\n",
                        encoding="utf-8")
    assert run_cli("ingest", str(commands), cwd=tmp_path,
                   env={"BENEFITPOOL_DB": "sqlite:///cli.db"}).exit_code == 0
    return tmp_path


HOUSEHOLD = ("household", HEAD, "--year", "2021", "--db", "sqlite:///cli.db")


def test_a_household_query_on_sqlite_loads_no_postgresql_columnar_numpy_plot_dask_or_server(
        ingested: Path) -> None:
    loaded = loaded_by(*HOUSEHOLD, cwd=ingested)
    assert {"sqlalchemy", "eventsourcing"} <= loaded  # the views lagged: the ledger caught up
    assert not loaded & set(ON_DEMAND)


def test_a_query_whose_views_are_current_loads_no_sqlalchemy_event_library_or_pydantic(
        ingested: Path) -> None:
    assert run_cli(*HOUSEHOLD, cwd=ingested).exit_code == 0  # the views caught up
    for args in (HOUSEHOLD, ("person", SPOUSE, "--year", "2021", "--db", "sqlite:///cli.db"),
                 (*HOUSEHOLD, "--as-of", "2021-03-01", "--at-position", "7", "--json")):
        loaded = loaded_by(*args, cwd=ingested)
        assert not loaded & {*ON_DEMAND, *STORES, "pydantic"}, args


@pytest.mark.parametrize("args", [HOUSEHOLD, (*HOUSEHOLD, "--json"),
                                  ("person", SPOUSE, "--db", "sqlite:///cli.db", "--json"),
                                  (*HOUSEHOLD, "--as-of", "2021-03-01", "--json"),
                                  ("household", "110101199003070011", "--year", "2021", "--db",
                                   "sqlite:///cli.db")])
def test_the_answer_read_from_current_views_is_the_one_the_ledger_gave_catching_up(
        ingested: Path, args: tuple[str, ...]) -> None:
    caught_up = run_cli(*args, cwd=ingested)
    current = run_cli(*args, cwd=ingested)
    assert (current.exit_code, current.stdout, current.stderr) == (
        caught_up.exit_code, caught_up.stdout, caught_up.stderr)


def test_every_listed_command_loads_and_its_sentence_is_one_line_ending_in_a_full_stop() -> None:
    for name, _module, _attribute, sentence in COMMANDS:
        command = load_command(name)
        assert command is not None and command.name == name
        assert "\n" not in sentence and sentence.endswith("."), name


def test_the_help_shows_each_commands_whole_sentence_at_80_columns(tmp_path: Path) -> None:
    shown = run_cli("--help", cwd=tmp_path, env={"COLUMNS": "80"}).stdout
    flat = " ".join(line.strip(" │") for line in shown.splitlines())
    flat = " ".join(flat.split())
    for name, _module, _attribute, sentence in COMMANDS:
        assert f"{name} {sentence}" in flat, name
