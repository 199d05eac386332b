"""The command line over a deployment of two regional stores answers as one store holding
both: ingest (the regions on a local Dask cluster), household and person questions, reports."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from itertools import zip_longest
from pathlib import Path

import pytest

from adapters import composition
from adapters.generator import generate_county
from tests.support.cli import run_cli

DEPLOYMENT = """\
directory = "sqlite:///directory.db"

[[region]]
prefix = "3412"
name = "阜阳市"
store = "sqlite:///fuyang.db"

[[region]]
prefix = "3311"
name = "丽水市"
store = "sqlite:///lishui.db"
"""


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Two counties' histories interleaved in one file, ingested into one store and into a
    deployment of two (the deployment's regions on a local Dask cluster of two processes)."""
    folder = tmp_path_factory.mktemp("province")
    book = composition.policy_book()
    a = list(generate_county(5, "fuyang-2021", 3, book))
    b = list(generate_county(5, "lishui-liandu-2020", 4, book))
    commands = [c for pair in zip_longest(a, b) for c in pair if c is not None]
    (folder / "both.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in commands), encoding="utf-8")
    (folder / "deployment.toml").write_text(DEPLOYMENT, encoding="utf-8")
    one = run_cli("ingest", "both.jsonl", "--results", "one.jsonl", "--db",
                  "sqlite:///one.db", cwd=folder)
    assert one.exit_code == 0, one.output
    many = run_cli("ingest", "both.jsonl", "--results", "many.jsonl", "--deployment",
                   "deployment.toml", "--workers", "2", cwd=folder)
    assert many.exit_code == 0, many.output
    return folder, commands


def test_ingest_across_regions_answers_every_line_as_one_store_does(province) -> None:
    folder, _ = province
    assert (folder / "many.jsonl").read_text() == (folder / "one.jsonl").read_text()


@pytest.mark.parametrize("report", ["fund", "enrollment"])
def test_a_report_over_the_province_merges_the_regions_into_one_stores_report(
        province, report: str) -> None:
    folder, _ = province
    one = run_cli("report", report, "--json", "--db", "sqlite:///one.db", cwd=folder)
    many = run_cli("report", report, "--json", "--deployment", "deployment.toml", cwd=folder)
    assert one.exit_code == many.exit_code == 0, many.output
    assert json.loads(many.stdout) == json.loads(one.stdout)
    assert {r["region"][:4] for r in json.loads(many.stdout)} == {"3412", "3311"}


def test_household_and_person_questions_go_to_the_region_that_holds_them(province) -> None:
    folder, commands = province
    enrolled = [c for c in commands if c["op"] == "enroll"]
    for c in (enrolled[0], enrolled[1]):
        for query in ("household", "person"):
            args = (query, c["person"], "--year", str(c["year"]), "--json")
            one = run_cli(*args, "--db", "sqlite:///one.db", cwd=folder)
            many = run_cli(*args, "--deployment", "deployment.toml", cwd=folder)
            assert one.exit_code == many.exit_code == 0, many.output
            assert json.loads(many.stdout) == json.loads(one.stdout)


def test_deployment_status_lists_each_regions_store_and_the_directory(province) -> None:
    folder, _ = province
    shown = run_cli("deployment", "status", "--json", "--deployment", "deployment.toml",
                    cwd=folder)
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert [r["prefix"] for r in status["regions"]] == ["3412", "3311"]
    assert all(r["events"] > 0 for r in status["regions"])
    assert status["directory"]["enrollments_confirmed"] > 0
    assert status["directory"]["enrollments_pending"] == 0


def test_a_deployment_file_with_overlapping_prefixes_is_refused_with_its_reason(
        tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(DEPLOYMENT.replace('"3311"', '"34"'), encoding="utf-8")
    refused = run_cli("report", "fund", "--deployment", "bad.toml", cwd=tmp_path)
    assert refused.exit_code == 2
    assert "3412 and 34 overlap" in refused.stderr
    assert not (tmp_path / "fuyang.db").exists()


def test_audit_over_the_deployment_checks_every_region_and_the_directory(province) -> None:
    folder, _ = province
    audited = run_cli("audit", "verify", "--json", "--deployment", "deployment.toml",
                      "--workers", "2", cwd=folder)
    assert audited.exit_code == 0, audited.output
    report = json.loads(audited.stdout)
    assert report["clean"] and set(report["regions"]) == {"3412", "3311"}
    assert all(r["decisions"]["checked"]["decisions"] > 0 for r in report["regions"].values())
    checked = report["directory"]["checked"]
    assert checked["enrollments"] == checked["entries"] > 0


def test_audit_over_the_deployment_without_views_checks_chains_decisions_and_directory(
        province) -> None:
    folder, _ = province
    audited = run_cli("audit", "verify", "--json", "--no-views", "--deployment",
                      "deployment.toml", cwd=folder)
    assert audited.exit_code == 0, audited.output
    report = json.loads(audited.stdout)
    assert report["clean"] and set(report["regions"]) == {"3412", "3311"}
    for region in report["regions"].values():
        assert "views" not in region and region["decisions"]["checked"]["decisions"] > 0
        assert region["enrollments"]["checked"]["enrollments"] > 0
        assert region["enrollments"]["position"] == region["position"]
    checked = report["directory"]["checked"]
    assert checked["enrollments"] == checked["entries"] == sum(
        r["enrollments"]["checked"]["enrollments"] for r in report["regions"].values())


@pytest.mark.parametrize("option", [("--at-position", "5"), ("--expect-seal", "5:" + "0" * 64)])
def test_an_audit_of_a_deployment_at_one_logs_position_is_refused_with_its_reason(
        province, option: tuple[str, str]) -> None:
    folder, _ = province
    refused = run_cli("audit", "verify", *option, "--deployment", "deployment.toml",
                      cwd=folder)
    assert refused.exit_code == 2
    assert "invalid_input" in refused.stderr and "its own --db" in refused.stderr


def test_db_names_one_store_even_where_the_environment_names_a_deployment(province) -> None:
    folder, _ = province
    env = {"BENEFITPOOL_DEPLOYMENT": "deployment.toml"}
    audited = run_cli("audit", "verify", "--json", "--no-views", "--at-position", "5",
                      "--db", "sqlite:///fuyang.db", cwd=folder, env=env)
    assert audited.exit_code == 0, audited.output
    report = json.loads(audited.stdout)
    assert report["position"] == 5 and report["clean"] and "regions" not in report
    deployed = run_cli("audit", "verify", "--json", "--no-views", cwd=folder, env=env)
    assert set(json.loads(deployed.stdout)["regions"]) == {"3412", "3311"}


def test_db_and_deployment_named_together_are_refused_with_its_reason(province) -> None:
    folder, _ = province
    refused = run_cli("report", "fund", "--db", "sqlite:///one.db", "--deployment",
                      "deployment.toml", cwd=folder)
    assert refused.exit_code == 2
    assert "invalid_input" in refused.stderr and "give one of them" in refused.stderr


def test_a_directory_that_lost_an_enrollment_fails_the_deployments_audit(
        province, tmp_path: Path) -> None:
    folder, _ = province
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    with sqlite3.connect(copy / "directory.db") as conn:
        conn.execute("DELETE FROM directory_enrollments WHERE (person_ref, year) IN "
                     "(SELECT person_ref, year FROM directory_enrollments LIMIT 1)")
    audited = run_cli("audit", "verify", "--json", "--deployment", "deployment.toml",
                      cwd=copy)
    assert audited.exit_code == 1, audited.output
    kinds = [p["kind"] for p in json.loads(audited.stdout)["directory"]["problems"]]
    assert kinds == ["directory_missing"]


@pytest.mark.parametrize(("engine", "workers"), [("fast", ()), ("exact", ()),
                                                  ("fast", ("--workers", "2"))])
def test_a_whatif_over_the_deployment_equals_one_stores_whatif(
        province, engine: str, workers: tuple[str, ...]) -> None:
    folder, _ = province
    (folder / "patch.toml").write_text('[outpatient]\nratio = "0.60"\nper_person_cap = '
                                       '"300.00"\n', encoding="utf-8")
    args = ("whatif", "--policy", "patch.toml", "--json", "--engine", engine)
    one = run_cli(*args, "--db", "sqlite:///one.db", cwd=folder)
    # on two Dask workers: each region's claims counted there, one thread each (ADRs 121, 122)
    many = run_cli(*args, "--deployment", "deployment.toml", *workers, cwd=folder)
    assert one.exit_code == many.exit_code == 0, many.output
    assert json.loads(many.stdout) == json.loads(one.stdout)
    assert json.loads(one.stdout)["claims"] > 0


def test_views_over_the_deployment_are_rebuilt_per_region_and_reported(province) -> None:
    folder, _ = province
    rebuilt = run_cli("views", "rebuild", "--deployment", "deployment.toml", cwd=folder)
    assert rebuilt.exit_code == 0, rebuilt.output
    shown = run_cli("views", "status", "--json", "--deployment", "deployment.toml", cwd=folder)
    rows = json.loads(shown.stdout)
    assert {r["region"] for r in rows} == {"3412", "3311"}
    assert all(r["lag"] == 0 for r in rows), rows


def test_the_regions_columnar_stores_are_rebuilt_with_their_views_and_alone(
        province) -> None:
    folder, _ = province
    for args in (("views", "rebuild"), ("views", "rebuild", "columnar")):
        rebuilt = run_cli(*args, "--deployment", "deployment.toml", cwd=folder)
        assert rebuilt.exit_code == 0, rebuilt.output
        shown = run_cli("views", "status", "--json", "--deployment", "deployment.toml",
                        cwd=folder)
        columnar = [r for r in json.loads(shown.stdout) if r["view"] == "columnar"]
        assert {r["region"] for r in columnar} == {"3412", "3311"}, args
        assert all(r["lag"] == 0 and r["position"] > 0 for r in columnar), columnar


def test_a_regions_columnar_store_another_process_holds_stops_its_rebuild_clearly(
        province) -> None:
    folder, _ = province
    held = folder / "lishui.db.columnar" / "claims.duckdb"
    assert run_cli("views", "rebuild", "--deployment", "deployment.toml",
                   cwd=folder).exit_code == 0 and held.exists()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); sys.stdin.read()", str(held)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        rebuilt = run_cli("views", "rebuild", "--deployment", "deployment.toml", cwd=folder)
        assert rebuilt.exit_code == 1
        assert "region 3311:" in rebuilt.stderr and "another process" in rebuilt.stderr
        assert "Traceback" not in rebuilt.output
    finally:
        holder.communicate("", timeout=30)


def test_stats_over_the_deployment_measure_each_regions_store(province) -> None:
    folder, _ = province
    shown = run_cli("stats", "--json", "--deployment", "deployment.toml", cwd=folder)
    assert shown.exit_code == 0, shown.output
    regions = json.loads(shown.stdout)["regions"]
    assert set(regions) == {"3412", "3311"}
    assert all(r["events"]["count"] > 0 and r["totals"]["event store"]["bytes_per_event"] > 0
               for r in regions.values()), regions
