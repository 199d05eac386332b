"""`audit verify --workers N | --scheduler ADDRESS` (ADR 55): the same report as the run in one
process, on a local Dask cluster of two worker processes; clean errors when no cluster can be
had."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.parallel import cluster
from tests.support.cli import CliResult, run_cli

KEY = {"BENEFITPOOL_AUDIT_KEY": "e2e-secret-audit-key-0002"}


def run(folder: Path, *args: str, env: dict | None = None) -> CliResult:
    return run_cli(*args, cwd=folder, env={**KEY, "BENEFITPOOL_DB": "sqlite:///county.db",
                                           **(env or {})})


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("county")
    assert run(folder, "generate", "--households", "30", "--seed", "9", "--out",
               "county.jsonl").exit_code == 0
    assert run(folder, "ingest", "county.jsonl").exit_code == 0
    return folder


def test_an_audit_on_two_local_workers_reports_what_one_process_reports(county: Path) -> None:
    alone = run(county, "audit", "verify", "--json")
    split = run(county, "audit", "verify", "--json", "--workers", "2")
    assert alone.exit_code == split.exit_code == 0, split.output
    assert json.loads(split.stdout) == json.loads(alone.stdout)
    assert json.loads(split.stdout)["decisions"]["checked"]["decisions"] > 100


def test_an_audit_on_an_existing_cluster_reached_by_its_address_reports_alike(
        county: Path) -> None:
    from distributed import LocalCluster

    alone = run(county, "audit", "verify", "--json", "--no-views")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as existing:
        by_flag = run(county, "audit", "verify", "--json", "--no-views", "--scheduler",
                      existing.scheduler_address)
        by_setting = run(county, "audit", "verify", "--json", "--no-views",
                         env={"DASK_SCHEDULER_ADDRESS": existing.scheduler_address})
    assert by_flag.exit_code == by_setting.exit_code == 0, by_flag.output
    assert json.loads(by_flag.stdout) == json.loads(by_setting.stdout) == json.loads(alone.stdout)


def test_both_what_if_engines_in_parts_on_a_cluster_report_what_one_process_reports(
        county: Path) -> None:
    from distributed import LocalCluster

    (county / "patch.toml").write_text('[outpatient]\nratio = "0.70"\n\n[waiting]\n'
                                       'fixed_months = 2\n', encoding="utf-8")
    args = ("whatif", "--policy", "patch.toml", "--engine", "both", "--json")
    alone = run(county, *args)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as existing:
        split = run(county, *args, "--scheduler", existing.scheduler_address)
    assert alone.exit_code == split.exit_code == 0, split.output
    assert json.loads(split.stdout) == json.loads(alone.stdout)
    assert json.loads(split.stdout)["claims"] > 50
    assert json.loads(split.stdout)["engines_agree"] is True


def test_an_unreachable_scheduler_exits_2_with_its_reason(
        county: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    for given in (["--scheduler", "tcp://127.0.0.1:9"], []):
        result = run(county, "audit", "verify", *given,
                     env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9"})
        assert result.exit_code == 2
        assert "scheduler_unreachable: cannot reach the Dask scheduler at tcp://127.0.0.1:9" \
            in " ".join(result.stderr.split())
        assert "Traceback" not in result.output


def test_workers_and_a_scheduler_together_are_refused(county: Path) -> None:
    result = run(county, "audit", "verify", "--workers", "2", "--scheduler", "tcp://x:1")
    assert result.exit_code == 2 and "invalid_input" in result.stderr


def test_a_store_in_memory_cannot_be_split_among_workers(county: Path) -> None:
    result = run(county, "audit", "verify", "--workers", "2", env={"BENEFITPOOL_DB": "memory://"})
    assert result.exit_code == 2 and "partitions_unavailable" in result.stderr


def view_rows(folder: Path) -> dict[str, list[tuple]]:
    """Every view table's rows, in key order."""
    from sqlalchemy import create_engine

    from tests.properties.test_view_properties import snapshot

    engine = create_engine(f"sqlite:///{folder / 'county.db'}")
    try:
        return snapshot(engine)
    finally:
        engine.dispose()


def test_views_rebuilt_in_parts_on_a_cluster_hold_the_rows_of_a_rebuild_in_one_process(
        county: Path) -> None:
    from distributed import LocalCluster

    assert run(county, "views", "rebuild").exit_code == 0
    alone = view_rows(county)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as existing:
        split = run(county, "views", "rebuild", "--scheduler", existing.scheduler_address)
    assert split.exit_code == 0, split.output
    assert "parts folded on Dask" in split.stderr
    assert view_rows(county) == alone
    assert sum(len(rows) for rows in alone.values()) > 500
    status = json.loads(run(county, "views", "status", "--json").stdout)
    assert {row["lag"] for row in status} == {0}


def test_a_view_edited_behind_the_ledger_is_found_alike_with_its_rebuild_on_a_cluster(
        county: Path, tmp_path: Path) -> None:
    import shutil
    import sqlite3

    from distributed import LocalCluster

    for name in ("county.db", "county.db-wal", "county.db-shm"):
        if (county / name).exists():
            shutil.copy(county / name, tmp_path / name)
    assert run(tmp_path, "views", "rebuild").exit_code == 0
    with sqlite3.connect(tmp_path / "county.db") as con:
        con.execute("UPDATE household_pool SET used_fen = used_fen + 1 WHERE household_id = "
                    "(SELECT min(household_id) FROM household_pool)")
    alone = run(tmp_path, "audit", "verify", "--json")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as existing:
        split = run(tmp_path, "audit", "verify", "--json", "--scheduler",
                    existing.scheduler_address)
    assert alone.exit_code == split.exit_code == 1, split.output
    assert json.loads(split.stdout) == json.loads(alone.stdout)
    assert "view_row_differs" in {p["kind"] for p in json.loads(split.stdout)["views"]["problems"]}
