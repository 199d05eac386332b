"""The `benefitpool` program, on a real SQLite file (its default store) and on a PostgreSQL
schema (given as BENEFITPOOL_DB): run in the test's process, and a few times as the installed
program a user runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from stdnum.cn import ric

from tests.support.builders import shipped_book
from tests.support.cli import CliResult, console_script, run_cli, run_console_script


def rid(region: str, birth: str, seq: int) -> str:
    base = f"{region}{birth}{seq:03d}"
    return base + ric.calc_check_digit(base + "0")


HEAD = rid("341225", "19800101", 11)
SPOUSE = rid("341225", "19820202", 22)
CHILD = rid("341225", "20100303", 31)


#: The store the program uses: None for its default (benefitpool.db in the working folder);
#: the `store` fixture sets a PostgreSQL one.
DB: str | None = None


def run(*args: str, cwd: Path, env: dict | None = None) -> CliResult:
    """The program in the folder `cwd`, on the store `DB` unless `env` names another."""
    return run_cli(*args, cwd=cwd, env={"BENEFITPOOL_DB": DB, **(env or {})})


def history() -> list[dict]:
    at = "2020-10-01T10:00:00+08:00"
    return [
        {"op": "register", "person": HEAD, "name": "张三", "region": "341225", "at": at},
        {"op": "register", "person": SPOUSE, "name": "李四", "region": "341225", "at": at},
        {"op": "register", "person": CHILD, "name": "张小", "region": "341225", "at": at},
        {"op": "enroll", "person": HEAD, "year": 2021, "region": "341225", "at": at},
        {"op": "pay", "person": HEAD, "year": 2021, "amount": "280.00", "channel": "wechat",
         "payment_ref": "T-1", "at": at},
        {"op": "enroll", "person": SPOUSE, "year": 2021, "region": "341225", "at": at,
         "household_head": HEAD},
        {"op": "pay", "person": SPOUSE, "year": 2021, "amount": "280.00", "channel": "cash",
         "payment_ref": "T-2", "at": at},
        {"op": "enroll", "person": CHILD, "year": 2021, "region": "341225", "at": at,
         "household_head": HEAD, "identity": "tekun"},
        {"op": "claim", "claim_id": "C-1", "person": SPOUSE, "visit_date": "2021-03-01",
         "facility_level": 0, "facility_region": "341225", "expense": "1000.00",
         "at": "2021-03-01T09:00:00+08:00"},
        {"op": "claim", "claim_id": "C-2", "person": HEAD, "visit_date": "2021-05-01",
         "facility_level": 1, "facility_region": "341225", "expense": "600.00",
         "at": "2021-05-01T09:00:00+08:00"},
    ]


@pytest.fixture
def store(store_kind: str, new_store, monkeypatch: pytest.MonkeyPatch) -> str:
    """The kind of store the program runs on: its default SQLite file, or a fresh
    PostgreSQL schema."""
    if store_kind == "postgresql":
        monkeypatch.setattr(sys.modules[__name__], "DB", new_store("cli"))
    return store_kind


@pytest.fixture
def ingested(store: str, tmp_path: Path) -> Path:
    commands = tmp_path / "history.jsonl"
    lines = [json.dumps(c, ensure_ascii=False) for c in history()]
    lines.insert(3, "{not json")
    lines.insert(5, "")
    commands.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with commands.open("ab") as f:
        f.write(b'{"op": "register", "name": "\xff\xfe"}\n')
    done = run("ingest", str(commands), "--results", "results.jsonl", cwd=tmp_path)
    assert done.exit_code == 0, done.stderr
    return tmp_path


def results_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def test_ingest_writes_one_result_per_command_line_in_order(ingested: Path) -> None:
    results = results_of(ingested)
    assert [r["line"] for r in results] == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13]
    assert (ingested / "benefitpool.db").exists() == (DB is None)


def test_a_malformed_line_is_a_rejected_result_not_a_crash(ingested: Path) -> None:
    by_line = {r["line"]: r for r in results_of(ingested)}
    assert by_line[4]["status"] == "rejected" and by_line[4]["reason"] == "invalid_input"
    assert by_line[13]["status"] == "rejected" and by_line[13]["reason"] == "invalid_input"
    assert all(r["status"] == "ok" for n, r in by_line.items() if n not in (4, 13))


def test_claims_share_the_household_pool_of_three_covered_members(ingested: Path) -> None:
    claims = [r for r in results_of(ingested) if r["op"] == "claim"]
    assert claims[0]["pool_cap"] == "750.00" and claims[0]["reimbursed"] == "550.00"
    assert claims[1]["reimbursable"] == "330.00" and claims[1]["reimbursed"] == "200.00"
    assert claims[1]["pool_remaining_after"] == "0.00"
    assert claims[1]["rule"] == shipped_book().find("341225", 2021).ref


def test_household_query_answers_with_the_contract_fields(ingested: Path) -> None:
    done = run("household", SPOUSE, "--year", "2021", "--json", cwd=ingested)
    assert done.exit_code == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["head"] == HEAD and view["year"] == 2021 and view["region"] == "341225"
    assert sorted(view["members"]) == sorted([HEAD, SPOUSE, CHILD])
    assert (view["cap"], view["used"], view["remaining"]) == ("750.00", "750.00", "0.00")
    assert [c["claim_id"] for c in view["claims"]] == ["C-1", "C-2"]
    assert set(view["claims"][0]) >= {"claim_id", "person", "visit_date", "reimbursed"}


def test_household_as_of_a_business_date_shows_the_pool_on_that_day(ingested: Path) -> None:
    done = run("household", HEAD, "--year", "2021", "--as-of", "2021-04-01", "--json",
               cwd=ingested)
    view = json.loads(done.stdout)
    assert (view["used"], view["remaining"]) == ("550.00", "200.00")


def test_person_query_answers_with_the_contract_fields(ingested: Path) -> None:
    done = run("person", CHILD, "--year", "2021", "--json", cwd=ingested)
    assert done.exit_code == 0, done.stderr
    view = json.loads(done.stdout)
    assert {"person", "year", "region", "household_head", "enrolled", "covered_from", "due",
            "subsidy", "paid", "refunded", "credit", "reimbursed"} <= set(view)
    assert view["subsidy"] == "280.00" and view["due"] == "0.00"
    assert view["covered_from"] == "2021-01-01" and view["household_head"] == HEAD


def test_an_unknown_person_is_a_clear_error(ingested: Path) -> None:
    stranger = rid("341225", "19700101", 99)
    done = run("person", stranger, "--json", cwd=ingested)
    assert done.exit_code == 1
    assert "unknown_person" in done.stderr


def test_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    done = run("ingest", str(tmp_path / "missing.jsonl"), cwd=tmp_path)
    assert done.exit_code == 2
    assert "cannot read" in done.stderr


def test_the_store_can_be_chosen_by_environment_variable(store_url: str, tmp_path: Path) -> None:
    commands = tmp_path / "h.jsonl"
    commands.write_text(json.dumps(history()[0], ensure_ascii=False) + "\n", encoding="utf-8")
    done = run("ingest", str(commands), cwd=tmp_path, env={"BENEFITPOOL_DB": store_url})
    assert done.exit_code == 0, done.stderr
    assert not (tmp_path / "benefitpool.db").exists()
    assert json.loads(done.stdout.splitlines()[0])["status"] == "ok"
    again = run("person", HEAD, "--json", "--db", store_url, cwd=tmp_path)
    assert json.loads(again.stdout)["person"] == HEAD


def test_reingesting_the_same_file_answers_every_line_from_its_journal(ingested: Path) -> None:
    done = run("ingest", "history.jsonl", "--results", "again.jsonl", cwd=ingested)
    assert done.exit_code == 0
    again = [json.loads(x) for x in (ingested / "again.jsonl").read_text().splitlines()]
    assert again == [{**r, "duplicate": True} for r in results_of(ingested)]


def test_a_changed_file_is_decided_again_and_rejects_every_fact_already_recorded(
        ingested: Path) -> None:
    changed = ingested / "changed.jsonl"
    changed.write_text((ingested / "history.jsonl").read_text(encoding="utf-8",
                                                                errors="replace") + "\n",
                       encoding="utf-8")
    done = run("ingest", "changed.jsonl", "--results", "again.jsonl", cwd=ingested)
    assert done.exit_code == 0
    again = [json.loads(x) for x in (ingested / "again.jsonl").read_text().splitlines()]
    reasons = {r["reason"] for r in again if r["op"] in ("register", "enroll", "pay")}
    assert reasons <= {"already_registered", "already_enrolled", "duplicate_payment_ref",
                       "invalid_input"}
    claims = [r for r in again if r["op"] == "claim"]
    assert all(r["status"] == "ok" and r.get("duplicate") for r in claims)


def test_policy_list_and_show_read_the_policy_files(tmp_path: Path) -> None:
    listing = json.loads(run("policy", "list", "--json", cwd=tmp_path).stdout)
    assert {"fuyang-2021", "gaizhou-2025", "yangcheng-2022"} <= {p["id"] for p in listing}
    shown = run("policy", "show", "331181", "2020", "--json", cwd=tmp_path)
    assert json.loads(shown.stdout)["policy"]["contribution"]["individual"] == "430.00"
    missing = run("policy", "show", "110101", "2021", cwd=tmp_path)
    assert missing.exit_code == 1 and "no_policy" in missing.stderr


def test_a_bad_policy_folder_names_the_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "bad.toml").write_text('id = "bad"\nversion = "1"\nregion = "34"\nyear = 2021\n'
                                     'seed = "001"\n[contribution]\nindividual = 280.5\n')
    done = run("policy", "list", "--policies", str(folder), cwd=tmp_path)
    assert done.exit_code == 2
    assert "bad.toml" in done.stderr and "contribution.individual" in done.stderr


def test_demo_ingests_a_county_and_summarises_it_then_refuses_to_ingest_twice(
        store: str, tmp_path: Path) -> None:
    done = run("demo", "--households", "60", cwd=tmp_path)
    assert done.exit_code == 0, done.stderr
    assert "Household pools" in done.stdout and "reimbursements" in done.stdout
    assert (tmp_path / "benefitpool.db").exists() == (DB is None)
    again = run("demo", "--households", "60", cwd=tmp_path)
    assert again.exit_code == 0
    assert "already holds" in again.stderr


def test_household_at_a_log_position_shows_what_the_ledger_said_then(ingested: Path) -> None:
    head = json.loads(run("views", "status", "--json", cwd=ingested).stdout)[0]["head"]
    now = json.loads(run("household", HEAD, "--year", "2021", "--json", cwd=ingested).stdout)
    # before the last claim's two events (and the ingest journal's two after them, ADR 45)
    before = json.loads(run("household", HEAD, "--year", "2021", "--at-position",
                            str(head - 4), "--json", cwd=ingested).stdout)
    assert now["used"] == "750.00" and len(now["claims"]) == 2
    assert before["used"] == "550.00" and [c["claim_id"] for c in before["claims"]] == ["C-1"]


def test_person_as_of_a_business_date_sees_only_what_had_happened_by_then(
        ingested: Path) -> None:
    before = run("person", SPOUSE, "--year", "2021", "--as-of", "2020-09-30", "--json",
                 cwd=ingested)
    assert before.exit_code == 1 and "unknown_person" in before.stderr
    on_the_day = json.loads(run("person", SPOUSE, "--year", "2021", "--as-of", "2020-10-01",
                                "--json", cwd=ingested).stdout)
    assert on_the_day["paid"] == "280.00" and on_the_day["covered_from"] == "2021-01-01"
    assert on_the_day["reimbursed"] == "0.00"


def test_fund_report_comes_as_json_and_csv(ingested: Path) -> None:
    rows = json.loads(run("report", "fund", "--region", "341225", "--year", "2021", "--json",
                          cwd=ingested).stdout)
    contributions = {r["key"]: r["amount"] for r in rows if r["item"] == "contribution"}
    assert contributions == {"wechat": "280.00", "cash": "280.00"}
    settled = [r for r in rows if r["item"] == "reimbursement" and r["key"] == "settled"]
    assert settled[0]["amount"] == "750.00"
    csv_text = run("report", "fund", "--year", "2021", "--csv", cwd=ingested).stdout
    assert csv_text.splitlines()[0] == "region,year,item,key,amount"


def test_enrollment_report_counts_registered_enrolled_and_covered(ingested: Path) -> None:
    rows = json.loads(run("report", "enrollment", "--year", "2021", "--json",
                          cwd=ingested).stdout)
    total = next(r for r in rows if r["identity"] == "*")
    assert (total["registered"], total["enrolled"], total["covered"]) == (3, 3, 3)


def test_views_rebuild_gives_the_same_answers_as_before(ingested: Path) -> None:
    before = run("household", HEAD, "--year", "2021", "--json", cwd=ingested).stdout
    done = run("views", "rebuild", cwd=ingested)
    assert done.exit_code == 0, done.stderr
    assert "rebuilt" in done.stderr
    assert run("household", HEAD, "--year", "2021", "--json", cwd=ingested).stdout == before
    bad = run("views", "rebuild", "nonsense", cwd=ingested)
    assert bad.exit_code == 1 and "unknown view" in bad.stderr


# --- the installed program ----------------------------------------------------------------------
# The tests above run the command line in the test's own process; these run the console script
# that installing the package made, in a process of its own, as a user runs it.


@pytest.fixture
def installed() -> Path:
    program = console_script()
    assert program.exists(), f"{program} is missing: install the package (pip install -e .)"
    return program


def test_the_installed_program_lists_its_commands(installed: Path, tmp_path: Path) -> None:
    done = run_console_script("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for command in ("ingest", "household", "person", "policy", "report", "audit", "whatif",
                    "serve"):
        assert command in done.stdout


def test_the_installed_program_ingests_a_file_then_answers_a_query_from_its_store(
        installed: Path, tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in history()), encoding="utf-8")
    ingest = run_console_script("ingest", "history.jsonl", "--results", "results.jsonl",
                                cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    assert (tmp_path / "benefitpool.db").exists()
    assert all(r["status"] == "ok" for r in results_of(tmp_path))
    shown = run_console_script("household", SPOUSE, "--year", "2021", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["head"] == HEAD and (view["cap"], view["used"]) == ("750.00", "750.00")


def test_the_installed_program_exits_1_for_an_unknown_person_and_2_for_an_unreadable_file(
        installed: Path, tmp_path: Path) -> None:
    stranger = rid("341225", "19700101", 99)
    no_store = run_console_script("person", stranger, "--json", cwd=tmp_path)
    assert no_store.returncode == 2 and "store_not_found" in no_store.stderr
    (tmp_path / "one.jsonl").write_text(json.dumps(history()[0], ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    assert run_console_script("ingest", "one.jsonl", cwd=tmp_path).returncode == 0
    unknown = run_console_script("person", stranger, "--json", cwd=tmp_path)
    assert unknown.returncode == 1
    assert "unknown_person" in unknown.stderr and "Traceback" not in unknown.stderr
    missing = run_console_script("ingest", "missing.jsonl", cwd=tmp_path)
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr and "Traceback" not in missing.stderr
