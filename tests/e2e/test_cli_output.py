"""Output that never cuts a number or a sentence (issue 16): piped (as the tests' runner is) at
80 columns, tables fold text, keep numbers and IDs whole, or turn into plain rows."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from adapters.cli.tables import Table
from adapters.stores.policy_files import load_policy_book
from tests.e2e.test_cli import HEAD, history
from tests.support.cli import run_cli

NARROW = {"COLUMNS": "80"}


def rendered(table: Table, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(table)
    return console.file.getvalue()


def whole(value: str, text: str) -> bool:
    """`value` appears in `text` as a token of its own (not part of a longer one, not cut)."""
    return re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", text) is not None


def test_a_table_keeps_every_number_whole_where_rich_would_cut_it() -> None:
    table = Table(title="pools")
    for name in ("year", "region", "households", "covered persons", "cap", "reimbursed",
                 "left", "at cap"):
        table.add_column(name, justify="right")
    row = ("2021", "341221", "974", "3288", "822000.00", "400777.35", "421222.65", "133")
    table.add_row(*row)
    for width in (60, 80, 120):
        text = rendered(table, width)
        assert "…" not in text
        assert all(whole(v, text) for v in row), text


def test_a_table_too_narrow_for_its_numbers_prints_plain_rows() -> None:
    table = Table(title="ids")
    table.add_column("claim")
    table.add_column("person")
    table.add_row("fuyang-2021-2021-C00003065", "341225194911114478")
    text = rendered(table, 40)
    assert text.splitlines() == ["ids", "claim: fuyang-2021-2021-C00003065",
                                 "person: 341225194911114478"]


def test_plain_rows_show_a_cells_markup_as_the_table_would_not_its_tags() -> None:
    table = Table(title="Footprint")
    table.add_column("part")
    table.add_column("bytes/event")
    table.add_row("[bold]event store[/bold]", "[bold]440.1[/bold]")
    table.add_row("literal [x] stays", "1")
    text = rendered(table, 20)
    assert "part: event store" in text and "bytes/event: 440.1" in text
    assert "[bold]" not in text and "literal" in text


def test_a_sentence_without_spaces_is_folded_onto_the_next_lines_not_cut() -> None:
    sentence = "2021年度城乡居民基本医疗保险筹资标准为830元/人,其中财政补助550元,个人缴费280元。"
    table = Table(show_header=False)
    table.add_row("individual", '"280.00"', f"001: {sentence}")
    text = rendered(table, 50)
    third = "".join(line.split("│")[3].strip() for line in text.splitlines()
                    if line.count("│") == 4)
    assert "…" not in text and sentence in third


def ingested(folder: Path) -> None:
    commands = folder / "history.jsonl"
    commands.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in history()) + "\n",
                        encoding="utf-8")
    assert run_cli("ingest", str(commands), cwd=folder).exit_code == 0


def test_the_household_at_80_columns_piped_shows_every_value_whole(tmp_path: Path) -> None:
    ingested(tmp_path)
    view = json.loads(run_cli("household", HEAD, "--year", "2021", "--json",
                              cwd=tmp_path).stdout)
    shown = run_cli("household", HEAD, "--year", "2021", cwd=tmp_path, env=NARROW).stdout
    values = [view["cap"], view["used"], view["remaining"], *view["members"],
              *(c[k] for c in view["claims"] for k in ("claim_id", "visit_date", "reimbursed"))]
    assert "…" not in shown
    assert all(whole(v, shown) for v in values), shown


def test_policy_show_at_80_columns_piped_shows_every_seed_sentence_whole(
        tmp_path: Path) -> None:
    policy = load_policy_book().find("341225", 2021)
    shown = run_cli("policy", "show", "341225", "2021", cwd=tmp_path, env=NARROW).stdout
    notes = "".join(line.split("│")[3].strip() for line in shown.splitlines()
                    if line.count("│") == 4)
    sentences = {policy.reference_for(f"contribution.{k}") for k in ("individual", "fiscal")}
    assert sentences
    for sentence in sentences:
        assert "".join(sentence.split()) in "".join(notes.split())
    # an ellipsis shown is one a seed sentence itself holds (……), never a cut
    rest = "".join("".join(c for c in shown if c not in "│┌┐└┘├┤┬┴┼─").split())
    for text in sorted(("".join(t.split()) for _, t in policy.references), key=len,
                       reverse=True):
        rest = rest.replace(text, "")
    assert "…" not in rest, shown


def test_policy_list_at_80_columns_piped_shows_every_id_and_hash_whole(
        tmp_path: Path) -> None:
    listed = json.loads(run_cli("policy", "list", "--json", cwd=tmp_path).stdout)
    shown = run_cli("policy", "list", cwd=tmp_path, env=NARROW).stdout
    assert "…" not in shown
    assert all(whole(p["id"], shown) and whole(p["hash"], shown) for p in listed), shown


def test_the_demo_at_80_columns_piped_shows_every_figure_whole(tmp_path: Path) -> None:
    done = run_cli("demo", "--households", "40", cwd=tmp_path, env=NARROW)
    assert done.exit_code == 0, done.stderr
    assert "…" not in done.output
    fund = json.loads(run_cli("report", "fund", "--json", cwd=tmp_path).stdout)
    reimbursed = sum(Decimal(r["amount"]) for r in fund if r["item"] == "reimbursement")
    assert whole(str(reimbursed), done.stdout), done.stdout
