"""`benefitpool ingest` stopped any way a real run stops — killed with SIGKILL at random points,
its disk full — and run again until it ends: the ledger, its views and the results equal one
clean run's (ADR 45)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.application.ingest_run import OPERATIONAL
from adapters.application.replay import read_log
from adapters.composition import open_ledger, open_views
from adapters.generator import write_county
from domain.policy_book import PolicyBook
from projections.tables import VIEW_TABLES
from projections.views import catch_up
from tests.support.cli import console_script, run_cli

KILLS = 6


def state(url: str, book: PolicyBook) -> tuple[list[tuple], dict[str, list[tuple]]]:
    """The ledger's events but the journals' (without recording times) and every view row
    (without log positions, which the journals' events shift)."""
    ledger = open_ledger(url, book)
    views = open_views(ledger.app, book, url)
    try:
        catch_up(ledger.app, views)
        events = [(type(le.event).__qualname__, le.event.originator_id,
                   le.event.originator_version,
                   sorted((k, repr(v)) for k, v in vars(le.event).items() if k != "timestamp"))
                  for le in read_log(ledger.app) if not isinstance(le.event, OPERATIONAL)]
        rows = {}
        with views.engine.connect() as conn:
            for tables in VIEW_TABLES.values():
                for table in tables:
                    keep = [c for c in table.columns if "position" not in c.name]
                    rows[table.name] = sorted(tuple(r) for r in conn.execute(select(*keep)))
        return events, rows
    finally:
        views.engine.dispose()
        ledger.app.close()


def same_results(rerun: list[dict[str, Any]], clean: list[dict[str, Any]]) -> bool:
    """Line by line the clean run's result, or it answered again from the journal."""
    return len(rerun) == len(clean) and all(
        r in (c, {**c, "duplicate": True}) for r, c in zip(rerun, clean, strict=True))


def results_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_an_ingest_killed_again_and_again_then_run_to_its_end_equals_one_clean_run(
        new_store, book: PolicyBook, tmp_path: Path) -> None:
    county = tmp_path / "county.jsonl"
    write_county(county, 300, "fuyang-2021", 11)
    clean_url, url = new_store("clean"), new_store("killed")
    done = run_cli("ingest", str(county), "--results", str(tmp_path / "clean.jsonl"),
                   "--batch-size", "40", "--db", clean_url)
    assert done.exit_code == 0, done.stderr
    rng = random.Random(20261201)
    command = [str(console_script()), "ingest", str(county), "--results",
               str(tmp_path / "killed.jsonl"), "--batch-size", "40", "--db", url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENEFITPOOL_")}
    results = tmp_path / "killed.jsonl"
    kills = 0
    deadline = time.monotonic() + 180
    while kills < KILLS and time.monotonic() < deadline:
        before = results.stat().st_size if results.exists() else 0
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        # killed at a random point after this run has committed at least one batch, so that
        # every kill lands in the middle of the work rather than in the program's start-up
        while (process.poll() is None and time.monotonic() < deadline
               and (results.stat().st_size if results.exists() else 0) <= before):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.25))
        if process.poll() is not None:  # it finished before the kill: start over elsewhere
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills >= KILLS, f"only {kills} kills before the ingest ended or time ran out"
    last = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert last.returncode == 0, last.stderr
    assert same_results(results_of(tmp_path / "killed.jsonl"), results_of(tmp_path /
                                                                          "clean.jsonl"))
    assert state(url, book) == state(clean_url, book)


def _mount_tmpfs(folder: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` on `folder`; why not, when it cannot be (not root, no mount)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(folder)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if done.returncode == 0 else done.stderr.strip() or "mount failed"


def test_a_full_disk_stops_the_ingest_with_exit_3_naming_the_last_committed_line(
        book: PolicyBook, tmp_path: Path) -> None:
    disk = tmp_path / "small"
    problem = _mount_tmpfs(disk, "1m")
    if problem is not None:
        pytest.skip(f"a small tmpfs cannot be mounted here ({problem}); the injected store "
                    "failure of tests/integration/test_resumable_ingest.py covers the code path")
    try:
        county = tmp_path / "county.jsonl"
        write_county(county, 200, "fuyang-2021", 3)
        url = f"sqlite:///{disk / 'ledger.db'}"
        full = run_cli("ingest", str(county), "--results", str(tmp_path / "r.jsonl"),
                       "--batch-size", "50", "--db", url)
        assert full.exit_code == 3, full.stderr
        assert "the store failed after line" in full.stderr
        assert "run the same command again to continue" in full.stderr
        assert "Traceback" not in full.stderr
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True, timeout=30)
        rerun = run_cli("ingest", str(county), "--results", str(tmp_path / "r.jsonl"),
                        "--batch-size", "50", "--db", url)
        assert rerun.exit_code == 0, rerun.stderr
        clean = run_cli("ingest", str(county), "--results", str(tmp_path / "clean.jsonl"),
                        "--batch-size", "50", "--db", f"sqlite:///{tmp_path / 'clean.db'}")
        assert clean.exit_code == 0
        assert same_results(results_of(tmp_path / "r.jsonl"),
                            results_of(tmp_path / "clean.jsonl"))
        assert state(url, book) == state(f"sqlite:///{tmp_path / 'clean.db'}", book)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)
