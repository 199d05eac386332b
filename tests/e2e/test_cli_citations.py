"""Where a figure is shown with the seed sentence behind it, the sentence's worked example is
mapped to the figure (issue 16, item 8): Fuyang's "全户…不超过1000元" is a four-person
household at 250 each, not this household's cap."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import HEAD, history
from tests.support.cli import run_cli

SQLITE = {"BENEFITPOOL_DB": "sqlite:///cited.db"}


def _ingested(folder: Path) -> Path:
    commands = folder / "history.jsonl"
    commands.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in history()) + "\n",
                        encoding="utf-8")
    assert run_cli("ingest", str(commands), cwd=folder, env=SQLITE).exit_code == 0
    return folder


def test_the_trail_maps_the_seeds_four_person_example_to_this_households_cap(
        tmp_path: Path) -> None:
    folder = _ingested(tmp_path)
    trail = json.loads(run_cli("audit", "trail", HEAD, "--year", "2021", "--json",
                               cwd=folder, env=SQLITE).stdout)
    entries = trail["entries"] if isinstance(trail, dict) else trail
    settled = [e for e in entries if e["kind"] == "OutpatientClaimSettled"]
    assert settled
    for entry in settled:
        cap = entry["decision"]["pool_cap"]
        covered = int(float(cap)) // 250
        examples = [b["example"] for b in entry["because"] if b.get("example")]
        assert examples == [f"the seed's example is a 4-person household: 4 × 250 = 1,000; "
                            f"this household has {covered} covered: {covered} × 250 = "
                            f"{int(float(cap)):,}"]
    shown = run_cli("audit", "trail", HEAD, "--year", "2021", cwd=folder, env=SQLITE).stdout
    assert "the seed's example is a 4-person household" in " ".join(shown.split())


def test_policy_show_says_the_household_total_it_cites_is_an_example(tmp_path: Path) -> None:
    shown = run_cli("policy", "show", "341225", "2021", cwd=tmp_path).stdout
    pooling = next(line for line in shown.splitlines() if "│ pooling" in line)
    rows = shown.splitlines()
    cell = "".join(line.split("│")[3] for line in rows[rows.index(pooling):][:12]
                   if line.count("│") == 4)
    assert "".join("不超过1000元即可。 (the seed's example is a 4-person household: 4 × 250 = "
                   "1,000)".split()) in "".join(cell.split())


def test_the_household_says_how_its_cap_follows_from_the_per_person_cap(
        tmp_path: Path) -> None:
    folder = _ingested(tmp_path)
    view = json.loads(run_cli("household", HEAD, "--year", "2021", "--json", cwd=folder,
                              env=SQLITE).stdout)
    covered = len(view["covered_members"])
    shown = run_cli("household", HEAD, "--year", "2021", cwd=folder, env=SQLITE).stdout
    assert f"cap {covered * 250:,} = {covered} covered × 250 per person" in shown
