"""Reports a newcomer reads (issue 16, item 7; ADRs 74, 75): the fund's totals and balance,
one base for contributions in the demo, `report fund` and what-if, the enrollment report's
denominators, and what an empty year answers."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from domain.money import Money
from tests.support.cli import run_cli

SQLITE = {"BENEFITPOOL_DB": "sqlite:///county.db"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A small demo county on SQLite, and what the demo printed."""
    folder = tmp_path_factory.mktemp("reports")
    done = run_cli("demo", "--households", "80", cwd=folder, env=SQLITE)
    assert done.exit_code == 0, done.stderr
    return folder, done.stdout


def money_line(printed: str, label: str) -> Money:
    """The amount the demo's money table shows against `label`."""
    for line in printed.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) == 2 and cells[0] == label:
            return Money.parse(cells[1])
    raise AssertionError(f"{label!r} not in the demo's money table:\n{printed}")


def fund_rows(folder: Path, *args: str) -> list[dict]:
    done = run_cli("report", "fund", "--json", *args, cwd=folder, env=SQLITE)
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


def added(rows: list[dict], item: str, key: str | None = None) -> Money:
    return Money(sum(Money.parse(r["amount"]).fen for r in rows
                     if r["item"] == item and (key is None or r["key"] == key)))


def test_the_fund_report_ends_each_region_year_with_its_totals_and_balance(
        demo: tuple[Path, str]) -> None:
    folder, _ = demo
    rows = fund_rows(folder)
    lines = [r for r in rows if r["item"] not in ("total", "balance")]
    for region, year in {(r["region"], r["year"]) for r in lines}:
        mine = [r for r in rows if (r["region"], r["year"]) == (region, year)]
        assert mine[-1]["item"] == "balance"
        totals = {r["key"]: Money.parse(r["amount"]) for r in mine if r["item"] == "total"}
        for item in ("contribution", "subsidy", "fiscal_due", "reimbursement", "refund"):
            assert totals[item] == added([r for r in mine if r in lines], item), item
        assert Money.parse(mine[-1]["amount"]) == (
            totals["contribution"] + totals["subsidy"] + totals["fiscal_due"]
            - totals["reimbursement"] - totals["refund"])
    shown = run_cli("report", "fund", cwd=folder, env=SQLITE).stdout
    assert "Contributions are gross" in shown and "balance" in shown


def test_the_demo_report_fund_and_whatif_count_contributions_gross_and_refunds_apart(
        demo: tuple[Path, str], tmp_path: Path) -> None:
    folder, printed = demo
    rows = fund_rows(folder)
    gross, refunds = added(rows, "total", "contribution"), added(rows, "total", "refund")
    assert gross.is_positive() and refunds.is_positive()
    assert money_line(printed, "contributions (gross, before refunds)") == gross
    assert money_line(printed, "refunds") == refunds
    assert money_line(printed, "fiscal share due") == added(rows, "total", "fiscal_due")
    assert money_line(printed, "balance") == added(rows, "balance")
    patch = tmp_path / "patch.toml"
    patch.write_text('[outpatient]\nratio = "0.60"\n')
    done = run_cli("whatif", "--policy", str(patch), "--json", cwd=folder, env=SQLITE)
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    assert Money.parse(summary["contributions_gross_baseline"]) == gross
    assert Money.parse(summary["refunds_baseline"]) == refunds
    assert Money.parse(summary["subsidy_cost_baseline"]) == added(rows, "total", "subsidy")


def test_every_enrollment_row_is_labelled_and_its_rate_divides_covered_by_enrolled(
        demo: tuple[Path, str]) -> None:
    folder, _ = demo
    done = run_cli("report", "enrollment", "--csv", cwd=folder, env=SQLITE)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows and all(r["identity"] for r in rows)
    assert {"*", "none", "lifted_out_of_poverty"} <= {r["identity"] for r in rows}
    for r in rows:
        if r["identity"] == "*":
            assert float(r["covered_of_registered"]) <= float(r["rate"])
        else:
            assert r["registered"] == "" and r["covered_of_registered"] == ""
        if int(r["enrolled"]):
            assert abs(float(r["rate"]) - int(r["covered"]) / int(r["enrolled"])) < 0.00005
    shown = run_cli("report", "enrollment", cwd=folder, env=SQLITE).stdout
    assert "rate = covered ÷ enrolled on every row" in " ".join(shown.split())


def test_a_year_with_no_data_answers_no_rows_with_a_warning_and_exit_0(
        demo: tuple[Path, str]) -> None:
    folder, _ = demo
    for report in ("fund", "enrollment"):
        empty = run_cli("report", report, "--year", "2030", "--json", cwd=folder, env=SQLITE)
        assert empty.exit_code == 0 and json.loads(empty.stdout) == []
        assert "warning: no data for all regions 2030" in " ".join(empty.stderr.split())
        table = run_cli("report", report, "--year", "2030", cwd=folder, env=SQLITE)
        assert table.exit_code == 0 and table.stdout.strip() == ""
        header = run_cli("report", report, "--year", "2030", "--csv", cwd=folder, env=SQLITE)
        assert header.stdout.splitlines()[0].startswith("region,year,")


def test_a_contribution_whatif_on_one_store_replays_with_the_collector_frozen_then_thawed(
        demo: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from adapters.whatif import fast

    asked: list[bool] = []
    real = fast.timeline_by_replay

    def noted(*args, freeze_gc: bool = False, **kwargs):  # noqa: ANN002, ANN003, ANN202
        asked.append(freeze_gc)
        return real(*args, freeze_gc=freeze_gc, **kwargs)

    monkeypatch.setattr(fast, "timeline_by_replay", noted)
    folder, _ = demo
    patch = tmp_path / "patch.toml"
    patch.write_text('[contribution]\nindividual = "300.00"\n')
    done = run_cli("whatif", "--policy", str(patch), "--json", cwd=folder, env=SQLITE)
    assert done.exit_code == 0, done.stderr
    assert asked == [True]  # the command is a process of its own (ADR 110)
    assert gc.get_freeze_count() == 0  # and gives every object back to the collector
    assert json.loads(done.stdout)["claims"] > 0
