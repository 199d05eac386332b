"""The columnar claims store from the command line: `whatif` reads it (and answers as from the
views), `views status` and `views rebuild` show and rebuild it, a damaged, foreign or busy
one is rebuilt or passed by with a note, on SQLite files and PostgreSQL schemas (where a
folder is given by BENEFITPOOL_COLUMNAR)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from attrs import frozen

from tests.support.cli import CliResult, run_cli
from tests.support.stores import Stores, stores

PATCH = '[outpatient]\nratio = "0.60"\nper_person_cap = "300.00"\n'
OFF = {"BENEFITPOOL_COLUMNAR": "off"}


@frozen
class County:
    folder: Path
    db: str
    kind: str

    @property
    def columnar(self) -> Path:
        """The columnar store's file: beside a SQLite file, in the given folder otherwise."""
        if self.kind == "sqlite":
            return Path(f"{self.db.removeprefix('sqlite:///')}.columnar") / "claims.duckdb"
        return self.folder / "columns" / "claims.duckdb"

    def env(self, extra: dict | None = None) -> dict:
        env = {"BENEFITPOOL_DB": self.db}
        if self.kind == "postgresql":
            env["BENEFITPOOL_COLUMNAR"] = str(self.columnar.parent)
        return {**env, **(extra or {})}

    def run(self, *args: str, env: dict | None = None) -> CliResult:
        return run_cli(*args, cwd=self.folder, env=self.env(env))


def make_county(made: Stores, folder: Path, households: int, seed: int) -> County:
    county = County(folder, made.new(f"county{seed}"), made.kind)
    (folder / "patch.toml").write_text(PATCH, encoding="utf-8")
    assert run_cli("generate", "--households", str(households), "--seed", str(seed), "--out",
                   "county.jsonl", cwd=folder).exit_code == 0
    done = county.run("ingest", "county.jsonl")
    assert done.exit_code == 0, done.stderr
    return county


@pytest.fixture(scope="module")
def county(module_stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> County:
    return make_county(module_stores, tmp_path_factory.mktemp("county"), 60, 7)


def whatif(county: County, out: str, env: dict | None = None) -> tuple[CliResult, dict, str]:
    done = county.run("whatif", "--policy", "patch.toml", "--out", out, "--json", env=env)
    assert done.exit_code == 0, done.stderr
    folder = county.folder / out
    return (done, json.loads((folder / "summary.json").read_text(encoding="utf-8")),
            (folder / "households.csv").read_text(encoding="utf-8"))


def test_whatif_reads_the_columnar_store_and_answers_as_from_the_views(county: County) -> None:
    _, by_views, rows_by_views = whatif(county, "by-views", OFF)
    _, by_columns, rows_by_columns = whatif(county, "by-columns")
    assert county.columnar.exists()
    assert by_columns == by_views
    assert rows_by_columns == rows_by_views
    assert by_columns["claims"] > 100 and by_columns["claims_changed"] > 0


def test_views_status_lists_the_columnar_store_at_the_head_after_a_whatif(
        county: County) -> None:
    whatif(county, "status")
    done = county.run("views", "status", "--json")
    assert done.exit_code == 0, done.stderr
    rows = {r["view"]: r for r in json.loads(done.stdout)}
    assert rows["columnar"]["lag"] == 0
    assert rows["columnar"]["position"] == rows["claims_journal"]["position"]


def test_views_rebuild_columnar_rebuilds_the_columnar_store_alone(county: County) -> None:
    done = county.run("views", "rebuild", "columnar")
    assert done.exit_code == 0, done.stderr
    assert "rebuilt columnar to position" in done.stderr
    _, by_columns, _ = whatif(county, "after-rebuild")
    _, by_views, _ = whatif(county, "after-rebuild-views", OFF)
    assert by_columns == by_views


def test_views_rebuild_folds_the_views_and_the_columnar_store_in_one_read(
        county: County) -> None:
    done = county.run("views", "rebuild")
    assert done.exit_code == 0, done.stderr
    assert "in one read of the log" in done.stderr
    shown = county.run("views", "status", "--json")
    rows = {r["view"]: r for r in json.loads(shown.stdout)}
    assert rows["columnar"]["lag"] == 0 and rows["claims_journal"]["lag"] == 0
    _, by_columns, lines_by_columns = whatif(county, "after-one-read")
    _, by_views, lines_by_views = whatif(county, "after-one-read-views", OFF)
    assert (by_columns, lines_by_columns) == (by_views, lines_by_views)


def test_a_damaged_columnar_file_is_rebuilt_with_a_note(county: County) -> None:
    _, expected, rows = whatif(county, "before-damage", OFF)
    county.columnar.write_bytes(b"not a database " * 1000)
    done, summary, after = whatif(county, "after-damage")
    assert "could not be opened" in done.stderr and "rebuilt from the log" in done.stderr
    assert (summary, after) == (expected, rows)
    assert "Traceback" not in done.output


def test_a_columnar_store_of_another_log_is_rebuilt_with_a_note(
        county: County, tmp_path: Path) -> None:
    whatif(county, "source")
    with stores(county.kind, tmp_path) as made:
        other = make_county(made, tmp_path, 5, 8)
        other.columnar.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(county.columnar, other.columnar)
        done, summary, rows = whatif(other, "foreign")
        assert "rebuilt from the log" in done.stderr
        assert ("not this log's" in done.stderr or "past the log's head" in done.stderr)
        assert (summary, rows) == whatif(other, "foreign-views", OFF)[1:]


def test_a_columnar_store_another_process_holds_is_passed_by(county: County) -> None:
    whatif(county, "warm")
    _, expected, rows = whatif(county, "busy-views", OFF)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); sys.stdin.read()", str(county.columnar)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        done, summary, after = whatif(county, "busy")
        assert "another process has the columnar store" in done.stderr
        assert (summary, after) == (expected, rows)
        status = county.run("views", "status")
        assert status.exit_code == 1 and "another process" in status.stderr
    finally:
        holder.communicate("", timeout=30)


def test_audit_verify_stays_clean_beside_the_columnar_store(county: County) -> None:
    whatif(county, "audit")
    done = county.run("audit", "verify", "--json")
    assert done.exit_code == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["clean"] is True


def test_a_postgresql_store_without_a_columnar_folder_reads_the_views(tmp_path: Path) -> None:
    # A SQLite store always has its columnar store beside the file: PostgreSQL alone.
    with stores("postgresql", tmp_path) as made:
        county = make_county(made, tmp_path, 30, 11)
        _reads_the_views_without_a_folder(county)


def _reads_the_views_without_a_folder(county: County) -> None:
    env = {"BENEFITPOOL_DB": county.db}
    done = run_cli("whatif", "--policy", "patch.toml", "--json", cwd=county.folder, env=env)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["claims"] > 100
    status = run_cli("views", "status", "--json", cwd=county.folder, env=env)
    assert "columnar" not in {r["view"] for r in json.loads(status.stdout)}
    rebuild = run_cli("views", "rebuild", "columnar", cwd=county.folder, env=env)
    assert rebuild.exit_code == 1 and "has no columnar store" in rebuild.stderr
