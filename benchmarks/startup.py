"""How long `benefitpool` spends importing before it answers (issue 16).

Runs `python -X importtime -m adapters.cli ARGS` several times for `--help` and for a household
and a person query against a demo store whose views are current (ADR 96), and prints, for
each, the smallest and the median of the summed import time (every top-level import's
cumulative time, as `-X importtime` reports it) and of the whole run's wall time, and which
heavy libraries the run loaded.

    .venv/bin/python benchmarks/startup.py [--runs 7] [--db sqlite:///demo.db]

`--db` is an SQLite store; without it, a demo store of 200 households is made in a
temporary folder first."""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")
HEAVY = ("psycopg", "numpy", "matplotlib", "duckdb", "pyarrow", "dask", "distributed",
         "fastapi", "uvicorn", "starlette", "sqlalchemy", "eventsourcing")


def one_run(args: list[str]) -> tuple[float, float, set[str]]:
    """(import seconds, wall seconds, heavy top-level packages loaded) of one run."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "adapters.cli", *args],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"benefitpool {' '.join(args)} exited {done.returncode}: "
                         f"{done.stderr[-2000:]}")
    total = 0
    loaded = set()
    for line in done.stderr.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        package = m.group(4).split(".")[0]
        if package in HEAVY:
            loaded.add(package)
        if m.group(3) == "":
            total += int(m.group(2))
    return total / 1e6, wall, loaded


def measure(title: str, args: list[str], runs: int) -> None:
    results = [one_run(args) for _ in range(runs)]
    imports = [r[0] for r in results]
    walls = [r[1] for r in results]
    loaded = sorted(set().union(*(r[2] for r in results)))
    print(f"| {title} | {min(imports):.3f} | {statistics.median(imports):.3f} | "
          f"{min(walls):.3f} | {statistics.median(walls):.3f} | {', '.join(loaded) or '—'} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = options.db
        if db is None:
            db = f"sqlite:///{tmp}/demo.db"
            subprocess.run([sys.executable, "-m", "adapters.cli", "demo", "--households",
                            "200", "--db", db], cwd=ROOT, check=True, capture_output=True)
        # the views catch up once, outside the figures; a person of the store is asked about
        subprocess.run([sys.executable, "-m", "adapters.cli", "report", "fund", "--db", db],
                       cwd=ROOT, check=True, capture_output=True)
        path = db.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            person, year = conn.execute(
                "SELECT person, year FROM person_year_version LIMIT 1").fetchone()
        query = ["household", person, "--year", str(year), "--db", db]
        personal = ["person", person, "--year", str(year), "--db", db]
        print("| command | imports, min s | imports, median s | wall, min s | wall, median s "
              "| heavy libraries loaded |")
        print("|---|---|---|---|---|---|")
        measure("`benefitpool --help`", ["--help"], options.runs)
        measure("`benefitpool household ID --year Y`", query, options.runs)
        measure("`benefitpool person ID --year Y`", personal, options.runs)


if __name__ == "__main__":
    main()
