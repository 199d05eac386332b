"""`audit verify`, `replay` and `whatif` on real SQLite files and PostgreSQL schemas, the
command line run in the test's process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import frozen

from tests.support.builders import shipped_book
from tests.support.cli import CliResult, run_cli
from tests.support.states import plain
from tests.support.stores import Stores, copy_store, raw_store, stores

KEY = {"BENEFITPOOL_AUDIT_KEY": "e2e-secret-audit-key-0001"}


def run(*args: str, cwd: Path, env: dict | None = None, db: str | None = None) -> CliResult:
    """The program on the store `db` (BENEFITPOOL_DB), its default when None."""
    return run_cli(*args, cwd=cwd, env={**(env or {}), "BENEFITPOOL_DB": db})


@frozen
class County:
    folder: Path
    db: str
    kind: str

    def run(self, *args: str, env: dict | None = None) -> CliResult:
        return run(*args, cwd=self.folder, env=env, db=self.db)


@pytest.fixture(scope="module")
def county(module_stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> County:
    folder = tmp_path_factory.mktemp("county")
    made = County(folder, module_stores.new("county"), module_stores.kind)
    assert run("generate", "--households", "40", "--seed", "5", "--out", "county.jsonl",
               cwd=folder).exit_code == 0
    done = made.run("ingest", "county.jsonl", "--results", "results.jsonl", env=KEY)
    assert done.exit_code == 0, done.stderr
    return made


@pytest.fixture
def fresh(county: County, tmp_path: Path) -> Iterator[Stores]:
    """New stores of the county's kind."""
    with stores(county.kind, tmp_path) as made:
        yield made


@pytest.fixture
def copy(county: County, fresh: Stores) -> str:
    """A copy of the county's store, for an attack."""
    url = fresh.new("copy")
    copy_store(county.db, url)
    return url


def test_audit_verify_is_clean_on_an_untouched_ledger(county: County) -> None:
    done = county.run("audit", "verify", "--json", env=KEY)
    assert done.exit_code == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["clean"] is True and report["problems"] == 0
    assert report["chain"]["keyed"] is True
    assert report["decisions"]["checked"]["decisions"] > 100
    assert report["views"]["checked"]["views"] == 5


def test_audit_verify_refuses_another_key_in_one_clear_sentence(county: County) -> None:
    other = {"BENEFITPOOL_AUDIT_KEY": "another-secret-audit-key-02"}
    done = county.run("audit", "verify", env=other)
    assert done.exit_code == 2
    assert "key" in (done.stdout + done.stderr).lower()
    assert "Traceback" not in done.stderr


def test_audit_verify_at_an_earlier_position_is_clean(county: County) -> None:
    done = county.run("audit", "verify", "--at-position", "700", "--json", env=KEY)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["position"] == 700


def test_an_edited_claim_fails_the_audit_and_is_located(copy: str, tmp_path: Path) -> None:
    with raw_store(copy) as con:
        oid, version, state = con.one(
            "SELECT originator_id, originator_version, state FROM {events} WHERE topic LIKE "
            "'%OutpatientClaimSettled' LIMIT 1")
        data = json.loads(plain(state))
        data["reimbursed"]["_data_"] += 1000
        con.execute("UPDATE {events} SET state = ? WHERE originator_id = ? AND "
                    "originator_version = ?", (json.dumps(data).encode(), oid, version))
    done = run("audit", "verify", "--json", "--no-views", cwd=tmp_path, env=KEY, db=copy)
    assert done.exit_code == 1
    report = json.loads(done.stdout)
    assert report["clean"] is False
    chain = report["chain"]["problems"]
    assert any(p["version"] == version and p["kind"] == "edited" for p in chain), chain
    decisions = report["decisions"]["problems"]
    assert any(p["kind"] == "decision_differs" and p["version"] == version
               for p in decisions), decisions


def test_a_removed_tail_of_the_log_is_caught_by_the_seal_kept_outside(
        county: County, copy: str, tmp_path: Path) -> None:
    seal = json.loads(county.run("audit", "verify", "--json", "--no-views",
                                 env=KEY).stdout)["chain"]["seal"]
    text = f"{seal['position']}:{seal['log_link']}"
    with raw_store(copy) as con:
        head = con.one("SELECT MAX({pos}) FROM {events}")[0]
        con.execute("DELETE FROM {events} WHERE {pos} > ?", (head - 3,))
        con.execute("DELETE FROM {chain} WHERE notification_id > ?", (head - 3,))
    done = run("audit", "verify", "--no-views", "--expect-seal", text, cwd=tmp_path, env=KEY,
               db=copy)
    assert done.exit_code == 1
    assert "[deleted]" in done.stdout and "removed" in done.stdout


def test_replay_writes_a_command_file_that_rebuilds_the_same_ledger(
        county: County, fresh: Stores, tmp_path: Path) -> None:
    done = county.run("replay", "--out", str(tmp_path / "replayed.jsonl"), env=KEY)
    assert done.exit_code == 0, done.stderr
    other = fresh.new("again")
    again = run("ingest", str(tmp_path / "replayed.jsonl"), "--results", "r.jsonl",
                "--db", other, cwd=tmp_path, env=KEY)
    assert again.exit_code == 0, again.stderr
    results = [json.loads(line) for line in (tmp_path / "r.jsonl").open()]
    assert results and all(r["status"] == "ok" for r in results)
    original = json.loads(county.run("report", "fund", "--json", env=KEY).stdout)
    rebuilt = json.loads(run("report", "fund", "--json", "--db", other, cwd=tmp_path,
                             env=KEY).stdout)
    assert rebuilt == original


def test_whatif_reports_baseline_and_reform_and_writes_its_files(county: County,
                                                                 tmp_path: Path) -> None:
    patch = tmp_path / "patch.toml"
    patch.write_text('[outpatient]\nratio = "0.70"\nper_person_cap = "400.00"\n')
    done = county.run("whatif", "--policy", str(patch), "--region", "3412", "--year", "2021",
                      "--engine", "both", "--out", str(tmp_path / "out"), "--json", env=KEY)
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    for field in ("scope", "claims", "households", "baseline_reimbursed", "reform_reimbursed",
                  "delta_reimbursed", "households_at_cap_baseline", "households_at_cap_reform",
                  "contributions_due_baseline", "subsidy_cost_reform"):
        assert field in summary
    assert summary["engines_agree"] is True
    assert float(summary["reform_reimbursed"]) > float(summary["baseline_reimbursed"])
    assert summary["policies_reform"] == [f"{shipped_book().find('341225', 2021).ref}+whatif"]
    rows = (tmp_path / "out" / "households.csv").read_text().splitlines()
    assert rows[0].startswith("head,year,region") and len(rows) == summary["households"] + 1
    assert (tmp_path / "out" / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing was written to the ledger
    verify = county.run("audit", "verify", "--json", "--no-views", env=KEY)
    assert json.loads(verify.stdout)["clean"] is True


def test_whatif_refuses_an_invalid_patch_with_the_field_named(county: County,
                                                              tmp_path: Path) -> None:
    patch = tmp_path / "bad.toml"
    patch.write_text('[outpatient]\nratio = "1.70"\n')
    done = county.run("whatif", "--policy", str(patch), env=KEY)
    assert done.exit_code == 2
    assert "outpatient.ratio" in done.stderr
    assert "Traceback" not in done.stderr


def test_whatif_outside_every_policy_says_so(county: County, tmp_path: Path) -> None:
    patch = tmp_path / "patch.toml"
    patch.write_text('[outpatient]\nratio = "0.60"\n')
    done = county.run("whatif", "--policy", str(patch), "--region", "3412", "--year", "2030",
                      env=KEY)
    assert done.exit_code == 1
    assert "no policy in force" in done.stderr


def _contribution_patch(tmp_path: Path, individual: str) -> Path:
    patch = tmp_path / "contribution.toml"
    patch.write_text(f'[contribution]\nindividual = "{individual}"\n')
    return patch


def test_whatif_raising_the_contribution_keeps_payers_covered_and_shows_every_fund_flow(
        county: County, tmp_path: Path) -> None:
    patch = _contribution_patch(tmp_path, "300.00")
    done = county.run("whatif", "--policy", str(patch), "--region", "3412", "--year", "2021",
                      "--engine", "both", "--json", env=KEY)
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["behaviour"] == "pay-new-due" and summary["engines_agree"] is True
    assert summary["covered_reform"] == summary["covered_baseline"]
    assert summary["claims_changed"] == 0 and summary["claims_rejected_reform"] == {}
    flows = summary["fund_flows"]
    for side in ("baseline", "mechanical", "reform"):
        assert set(flows[side]) >= {"contributions", "subsidy_cost", "fiscal_subsidy_due",
                                    "reimbursed", "net"}
    assert float(flows["mechanical_effect"]["contributions"]) > 0
    assert flows["mechanical_effect"]["fiscal_subsidy_due"] == "0.00"
    assert flows["behavioural_effect"]["covered"] == 0
    assert {r["name"] for r in summary["by_region"]} >= {"Funan", "Linquan"}


def test_whatif_with_the_recorded_behaviour_meets_the_recorded_payments_against_the_new_due(
        county: County, tmp_path: Path) -> None:
    patch = _contribution_patch(tmp_path, "300.00")
    done = county.run("whatif", "--policy", str(patch), "--behaviour", "recorded", "--json",
                      env=KEY)
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["behaviour"] == "recorded"
    assert summary["covered_reform"] < summary["covered_baseline"]
    assert summary["claims_rejected_reform"]


def test_whatif_with_a_take_up_elasticity_drops_the_same_payers_for_the_same_seed(
        county: County, tmp_path: Path) -> None:
    patch = _contribution_patch(tmp_path, "400.00")
    args = ("whatif", "--policy", str(patch), "--take-up-elasticity", "-1.5", "--seed", "3",
            "--json")
    first, again = county.run(*args, env=KEY), county.run(*args, env=KEY)
    assert first.exit_code == 0, first.stderr
    one, two = json.loads(first.stdout), json.loads(again.stdout)
    assert one["dropped_out"] == two["dropped_out"] > 0
    assert one["fund_flows"] == two["fund_flows"]
    assert one["fund_flows"]["behavioural_effect"]["covered"] == -one["dropped_out"]
    assert one["fund_flows"]["mechanical_effect"]["covered"] == 0


def test_whatif_refuses_an_elasticity_it_cannot_read_or_without_new_dues(
        county: County, tmp_path: Path) -> None:
    patch = _contribution_patch(tmp_path, "300.00")
    for extra in (("--take-up-elasticity", "much"),
                  ("--take-up-elasticity", "-0.2", "--behaviour", "recorded"),
                  ("--behaviour", "sometimes")):
        done = county.run("whatif", "--policy", str(patch), *extra, env=KEY)
        assert done.exit_code == 2, extra
        assert "Traceback" not in done.stderr and done.stderr.strip()


RESIDENT_ID = r"\d{17}[\dXx]"


def test_whatif_files_mask_the_heads_id_numbers_unless_an_administrator_asks(
        county: County, tmp_path: Path) -> None:
    import csv
    import re

    patch = _contribution_patch(tmp_path, "300.00")
    masked = county.run("whatif", "--policy", str(patch), "--out", str(tmp_path / "m"),
                        env=KEY)
    assert masked.exit_code == 0, masked.stderr
    for name in ("summary.json", "households.csv", "regions.csv"):
        assert not re.search(RESIDENT_ID, (tmp_path / "m" / name).read_text()), name
    with (tmp_path / "m" / "households.csv").open() as f:
        heads = [r["head"] for r in csv.DictReader(f)]
    assert heads and all(re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", h) for h in heads)
    shown = county.run("whatif", "--policy", str(patch), "--out", str(tmp_path / "s"),
                       "--show-ids", env=KEY)
    assert shown.exit_code == 0, shown.stderr
    with (tmp_path / "s" / "households.csv").open() as f:
        full = [r["head"] for r in csv.DictReader(f)]
    assert all(re.fullmatch(RESIDENT_ID, h) for h in full)
    assert [h[:6] + h[-4:] for h in full] == [h[:6] + h[-4:] for h in heads]


def test_whatif_names_what_changed_and_each_county_in_its_files(county: County,
                                                                tmp_path: Path) -> None:
    import csv

    patch = tmp_path / "both.toml"
    patch.write_text('[contribution]\nindividual = "300.00"\n'
                     '[outpatient]\nper_person_cap = "300.00"\n')
    done = county.run("whatif", "--policy", str(patch), "--region", "3412", "--year", "2021",
                      "--out", str(tmp_path / "o"), "--json", env=KEY)
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {(c["field"], c["old"], c["new"]) for c in summary["changes"]} == {
        ("contribution.individual", "280.00", "300.00"),
        ("outpatient.per_person_cap", "250.00", "300.00")}
    assert summary["scope_name"].startswith("Fuyang") and "(3412)" in summary["scope_name"]
    with (tmp_path / "o" / "regions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["region"], r["name"]) for r in rows} == {
        (r["region"], r["name"]) for r in summary["by_region"]}
    assert sum(int(r["households_baseline"]) for r in rows) == summary["households"]
    total = sum(float(r["reimbursed_reform"]) for r in rows)
    assert round(total, 2) == float(summary["reform_reimbursed"])
    assert (tmp_path / "o" / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_whatif_compares_several_reforms_in_one_table_and_one_chart(county: County,
                                                                    tmp_path: Path) -> None:
    import csv

    (tmp_path / "raise20.toml").write_text('[contribution]\nindividual = "300.00"\n')
    (tmp_path / "cap300.toml").write_text('[outpatient]\nper_person_cap = "300.00"\n')
    done = county.run("whatif", "--policy", str(tmp_path / "raise20.toml"), "--policy",
                      str(tmp_path / "cap300.toml"), "--out", str(tmp_path / "o"), "--json",
                      env=KEY)
    assert done.exit_code == 0, done.stderr
    compared = json.loads(done.stdout)
    assert [r["reform"] for r in compared["comparison"]] == ["baseline", "raise20", "cap300"]
    assert set(compared["reforms"]) == {"raise20", "cap300"}
    alone = json.loads(county.run("whatif", "--policy", str(tmp_path / "cap300.toml"),
                                  "--json", env=KEY).stdout)
    assert compared["reforms"]["cap300"] == alone
    row = compared["comparison"][2]
    assert row["reimbursed"] == alone["reform_reimbursed"]
    assert row["changes"] == "outpatient.per_person_cap 250.00 → 300.00"
    with (tmp_path / "o" / "comparison.csv").open() as f:
        assert [r["reform"] for r in csv.DictReader(f)] == ["baseline", "raise20", "cap300"]
    assert (tmp_path / "o" / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "o" / "raise20" / "summary.json").exists()
    table = county.run("whatif", "--policy", str(tmp_path / "raise20.toml"), "--policy",
                       str(tmp_path / "cap300.toml"), env=KEY)
    assert table.exit_code == 0 and "raise20" in table.stdout and "delta_net" in table.stdout


def test_whatif_refuses_two_reforms_of_one_name(county: County, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "r.toml").write_text('[outpatient]\nratio = "0.60"\n')
    (tmp_path / "r.toml").write_text('[outpatient]\nratio = "0.70"\n')
    done = county.run("whatif", "--policy", str(tmp_path / "a" / "r.toml"), "--policy",
                      str(tmp_path / "r.toml"), env=KEY)
    assert done.exit_code == 2 and "named r" in done.stderr


def test_shadow_add_list_report_and_remove_on_the_command_line(copy: str,
                                                               tmp_path: Path) -> None:
    patch = tmp_path / "cap.toml"
    patch.write_text('[outpatient]\nper_person_cap = "300.00"\n')
    added = run("shadow", "add", "cap300", "--policy", str(patch), "--region", "3412",
                cwd=tmp_path, env=KEY, db=copy)
    assert added.exit_code == 0, added.stderr
    again = run("shadow", "add", "cap300", "--policy", str(patch), cwd=tmp_path, env=KEY,
                db=copy)
    assert again.exit_code == 2 and "shadow_exists" in again.stderr
    listed = json.loads(run("shadow", "list", "--json", cwd=tmp_path, env=KEY,
                            db=copy).stdout)
    assert [(s["name"], s["region"], s["behind"]) for s in listed] == [("cap300", "3412", 0)]
    claim = {"op": "claim", "claim_id": "SHADOW-1", "person": _a_member(copy, tmp_path),
             "visit_date": "2021-06-01", "facility_level": 0, "facility_region": "341225",
             "expense": "80.00", "at": "2021-06-01T09:00:00+08:00"}
    (tmp_path / "more.jsonl").write_text(json.dumps(claim) + "\n")
    assert run("ingest", str(tmp_path / "more.jsonl"), "--results", str(tmp_path / "r.jsonl"),
               cwd=tmp_path, env=KEY, db=copy).exit_code == 0
    report = run("shadow", "report", "cap300", "--json", cwd=tmp_path, env=KEY, db=copy)
    assert report.exit_code == 0, report.stderr
    answer = json.loads(report.stdout)
    assert answer["totals"]["claims_decided"] == 1
    assert answer["window"]["from_position"] == answer["shadow"]["added_position"] + 1
    assert run("shadow", "report", "cap300", cwd=tmp_path, env=KEY, db=copy).exit_code == 0
    rebuilt = run("shadow", "report", "cap300", "--rebuild", "--json", cwd=tmp_path, env=KEY,
                  db=copy)
    assert json.loads(rebuilt.stdout) == answer
    assert run("shadow", "remove", "cap300", cwd=tmp_path, env=KEY, db=copy).exit_code == 0
    gone = run("shadow", "report", "cap300", cwd=tmp_path, env=KEY, db=copy)
    assert gone.exit_code == 1 and "unknown_shadow" in gone.stderr
    assert "Traceback" not in gone.stderr


def _a_member(db: str, cwd: Path) -> str:
    """A person covered in Funan in 2021, as `persons` finds them."""
    found = json.loads(run("persons", "--region", "341225", "--year", "2021", "--json",
                           "--limit", "50", cwd=cwd, env=KEY, db=db).stdout)
    return next(r["person"] for r in found["rows"] if r["covered_from"])
