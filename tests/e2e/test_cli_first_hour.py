"""A newcomer's first hour with `benefitpool` (issue 16): a query against a store that does not
exist creates nothing, and command files from Excel or Notepad (a byte order mark) or cut short
are answered line by line in the file's own terms."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.e2e.test_cli import HEAD, history
from tests.support.cli import run_cli
from tests.support.stores import POSTGRES, require_postgres

READS = (
    ("household", HEAD, "--year", "2021"),
    ("person", HEAD),
    ("report", "fund"),
    ("report", "enrollment", "--year", "2021"),
    ("views", "status"),
    ("audit", "verify"),
    ("audit", "trail", HEAD, "--year", "2021"),
    ("replay",),
    ("stats",),
    ("token", "list"),
)


@pytest.mark.parametrize("command", READS, ids=lambda c: " ".join(c[:2]))
def test_a_query_against_a_store_that_does_not_exist_exits_2_and_creates_nothing(
        command: tuple[str, ...], tmp_path: Path) -> None:
    done = run_cli(*command, "--db", "sqlite:///fresh.db", cwd=tmp_path)
    assert done.exit_code == 2
    assert "store_not_found" in done.stderr and "fresh.db does not exist" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_default_store_missing_is_refused_with_how_to_make_one(tmp_path: Path) -> None:
    done = run_cli("household", HEAD, "--year", "2021", cwd=tmp_path)
    assert done.exit_code == 2
    assert "benefitpool ingest FILE" in done.stderr and "benefitpool demo" in done.stderr
    assert not (tmp_path / "benefitpool.db").exists()


def test_a_query_against_a_postgresql_schema_without_a_ledger_creates_no_table() -> None:
    require_postgres()
    schema = "bpt_no_ledger_here"
    done = run_cli("report", "fund", "--db", f"{POSTGRES}?schema={schema}")
    assert done.exit_code == 2 and "store_not_found" in done.stderr
    with psycopg.connect(POSTGRES) as conn:
        found = conn.execute("SELECT count(*) FROM information_schema.tables "
                             "WHERE table_schema = %s", (schema,)).fetchone()
    assert found == (0,)


def test_ingest_creates_the_store_then_the_same_query_answers(tmp_path: Path) -> None:
    commands = tmp_path / "history.jsonl"
    commands.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in history()) + "\n",
                        encoding="utf-8")
    assert run_cli("ingest", str(commands), "--db", "sqlite:///fresh.db",
                   cwd=tmp_path).exit_code == 0
    shown = run_cli("household", HEAD, "--year", "2021", "--json", "--db",
                    "sqlite:///fresh.db", cwd=tmp_path)
    assert shown.exit_code == 0 and json.loads(shown.stdout)["head"] == HEAD


def test_a_file_saved_with_a_byte_order_mark_is_read_from_its_first_line(
        tmp_path: Path) -> None:
    commands = tmp_path / "from-excel.jsonl"
    text = "\n".join(json.dumps(c, ensure_ascii=False) for c in history()) + "\n"
    commands.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    done = run_cli("ingest", str(commands), "--db", "sqlite:///bom.db", cwd=tmp_path)
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.exit_code == 0
    assert [r["status"] for r in results] == ["ok"] * len(history())


def test_a_line_cut_short_is_rejected_naming_its_own_line_and_the_column_it_ends_at(
        tmp_path: Path) -> None:
    commands = tmp_path / "cut.jsonl"
    whole = json.dumps(history()[0], ensure_ascii=False)
    cut = whole[:whole.index(",")]  # the first field, then nothing
    opened = whole.index('"name": "') + len('"name": ')  # the name's opening quote
    inside = whole[:opened + 2]  # cut inside the name
    commands.write_text(f"{whole}\n{cut}\n{inside}\n", encoding="utf-8")
    done = run_cli("ingest", str(commands), "--db", "sqlite:///cut.db", cwd=tmp_path)
    second, third = (json.loads(line) for line in done.stdout.splitlines()[1:3])
    assert (second["line"], third["line"]) == (2, 3)
    assert second["reason"] == third["reason"] == "invalid_input"
    assert second["message"].endswith(f"where the line ends, after column {len(cut)}")
    assert third["message"].endswith(f"at column {opened + 1} of {len(inside)}")
    assert "line 2 column" not in second["message"] + third["message"]


def test_every_refusal_in_the_results_shows_id_numbers_masked_alike(tmp_path: Path) -> None:
    lines = history()[:5] + [history()[0], history()[3],
                             {**history()[3], "year": 2022, "at": "2021-10-01"},
                             {**history()[4], "payment_ref": "T-9", "year": 2023}]
    commands = tmp_path / "again.jsonl"
    commands.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in lines) + "\n",
                        encoding="utf-8")
    done = run_cli("ingest", str(commands), "--db", "sqlite:///again.db", cwd=tmp_path)
    refused = [json.loads(line) for line in done.stdout.splitlines()][5:]
    assert [r["reason"] for r in refused[:2]] == ["already_registered", "already_enrolled"]
    masked = f"{HEAD[:6]}********{HEAD[-4:]}"
    assert all(masked in r["message"] for r in refused[:2])
    assert not [r for r in refused if HEAD in r["message"]]


def test_a_year_outside_2000_to_2100_is_refused_before_any_store_is_opened(
        tmp_path: Path) -> None:
    done = run_cli("household", HEAD, "--year", "21", "--db", "sqlite:///x.db", cwd=tmp_path)
    assert done.exit_code == 2 and "--year" in done.output and "2000" in done.output
    assert "not enrolled" not in done.output and list(tmp_path.iterdir()) == []
