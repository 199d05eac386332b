"""A synthetic province on one machine: regions of several regimes, one store each (ADR 56),
ingested, projected, audited and re-decided at 1 and at N workers (a local Dask cluster).

    .venv/bin/python benchmarks/scale.py --households 3000 --regions 4 --workers 2

In one run, for each worker count: a fresh deployment (SQLite files), then

- ingest of the province file (routed, each region's share on its own worker);
- views rebuilt in every region, with its columnar claims store (one read, ADR 115);
- audit verify of every region (chain, decisions, views) and of the directory;
- the same without the views (`audit verify --no-views`, ADR 130): the re-decision that the
  issue's per-core goal compares with ingest, timed apart and left out of the total;
- what-if, fast engine: an outpatient patch (claims only) and a contribution patch (coverage
  re-derived by replaying the person-side commands);

and, once, the eventsourcing library's own best case (`Application.save` of fresh aggregates,
one core) for as many events as the province stored. Printed: seconds per step at 1 and N
workers, speedup and parallel efficiency (speedup / N), ingest per core against the library,
bytes per stored event, and the extrapolation to a prefecture and a province.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest import bench_library  # noqa: E402
from machine import cpu_ticks, machine, one_core, stolen_share  # noqa: E402

from adapters import composition  # noqa: E402
from adapters.generator import generate_county  # noqa: E402
from adapters.parallel.cluster import dask_client, regions_executor  # noqa: E402
from adapters.stores.deployment_files import Deployment, RegionStore  # noqa: E402
from adapters.usecases.regional_audit import RegionAuditJob, audit_deployment  # noqa: E402
from adapters.usecases.regional_ingest import ingest_across  # noqa: E402
from adapters.usecases.regional_whatif import RegionWhatIfJob, whatif_deployment  # noqa: E402
from adapters.usecases.views import COLUMNAR, RegionViewsJob  # noqa: E402
from adapters.usecases.whatif import reform_of  # noqa: E402
from adapters.whatif.exact import Scope  # noqa: E402
from projections.tables import VIEWS  # noqa: E402

#: The province's regions: prefix, name, the regime generated there.
REGIONS = (
    ("3412", "阜阳市", "fuyang-2021"),
    ("3311", "丽水市", "lishui-2020"),
    ("2108", "营口市", "gaizhou-2025"),
    ("1405", "晋城市", "yangcheng-2022"),
    ("43", "湖南省", "hunan-2023"),
)
PATCHES = {
    "outpatient": {"outpatient": {"ratio": "0.60", "per_person_cap": "300.00"}},
    "contribution": {"contribution": {"individual": "300.00"}},
}
CHUNK = 500  # lines of one region before the next region's, in the province file


def province_file(path: Path, households: int, regions: int, seed: int) -> tuple[int, int]:
    """The regions' histories in one file, region by region in chunks of CHUNK lines;
    returns (lines, persons registered)."""
    book = composition.policy_book()
    share = households // regions
    streams = [generate_county(share, regime, seed + n, book)
               for n, (_, _, regime) in enumerate(REGIONS[:regions])]
    written = persons = 0
    with path.open("w", encoding="utf-8") as f:
        while streams:
            for stream in list(streams):
                for _ in range(CHUNK):
                    command = next(stream, None)
                    if command is None:
                        streams.remove(stream)
                        break
                    f.write(json.dumps(command, ensure_ascii=False, separators=(",", ":"))
                            + "\n")
                    written += 1
                    persons += command["op"] == "register"
    return written, persons


def deployment_in(folder: Path, regions: int) -> Deployment:
    folder.mkdir(parents=True, exist_ok=True)
    return Deployment(tuple(RegionStore(prefix, name, f"sqlite:///{folder / (prefix + '.db')}")
                            for prefix, name, _ in REGIONS[:regions]),
                      f"sqlite:///{folder / 'directory.db'}")


#: The share of CPU time the host stole during the last `timed` step (a virtual machine's).
STOLEN: list[float] = [0.0]


def timed(step: Callable[[], Any]) -> tuple[float, Any]:
    ticks = cpu_ticks()
    start = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - start
    STOLEN[0] = stolen_share(ticks, cpu_ticks())
    return seconds, result


def say(workers: int, step: str, seconds: float) -> None:
    print(f"    [{time.strftime('%H:%M:%S')}] {workers} worker(s): {step} {seconds:.1f} s "
          f"(host steal {STOLEN[0]:.0%})", flush=True)


#: The replays of an ingested deployment, in the order they run.
REPLAYS = ("views", "audit", "audit_no_views", "whatif_outpatient", "whatif_contribution")


def replays(deployment: Deployment, directory: Any, key: bytes, executor: Any
            ) -> dict[str, Callable[[], Any]]:
    """Each replay of an ingested deployment as a step to time (`executor`: the regions'
    Dask executor, or None for this process alone): views rebuilt in every region with its
    columnar store (ADR 115), audit verify of every region and the directory (its report),
    and the two fast what-ifs (their `WhatIf`)."""

    def views() -> Any:
        jobs = [RegionViewsJob(r.prefix, r.url, None, (*VIEWS, COLUMNAR))
                for r in deployment.regions]
        run = composition.rebuild_region_views
        return list(executor.map(run, jobs)) if executor else [run(j) for j in jobs]

    def audit(views: bool) -> Callable[[], Any]:
        return lambda: audit_deployment(
            deployment, directory, key,
            lambda r: composition.audit_region(RegionAuditJob(r.prefix, r.url, None, views)),
            int(time.time()), executor)

    def whatif(name: str) -> Callable[[], Any]:
        book = composition.policy_book()
        patch = PATCHES[name]
        reform = reform_of(book, patch, name, None, None)
        # summarised as the command summarises it: with the fund flows (ADR 126)
        return lambda: whatif_deployment(
            deployment, Scope(None, None), "fast", composition.whatif_region,
            lambda r: RegionWhatIfJob(r.prefix, r.url, None, reform, patch, Scope(None, None),
                                      "fast"), executor, book=book, reform=reform, patch=patch)

    return {"views": views, "audit": audit(True), "audit_no_views": audit(False),
            "whatif_outpatient": whatif("outpatient"),
            "whatif_contribution": whatif("contribution")}


@contextlib.contextmanager
def executor_of(workers: int) -> Iterator[Any]:
    """The regions' executor on a local Dask cluster of `workers` processes, started for the
    block; None (this process alone, pinned to one core: `machine.one_core`) for one
    worker."""
    if workers <= 1:
        with one_core():
            yield None
        return
    with dask_client(workers, None) as client:
        yield regions_executor(client)


def run_steps(deployment: Deployment, path: Path, workers: int) -> dict[str, Any]:
    """Every step on a fresh deployment, on `workers` processes (1: this process alone)."""
    measured: dict[str, Any] = {}
    with executor_of(workers) as executor:
        directory = composition.open_directory(deployment)
        key = composition.directory_key()

        def ingest() -> Any:
            return ingest_across(deployment, directory, key, path, io.StringIO(),
                                 path.parent / f".ingest-{workers}", composition.ingest_region,
                                 int(time.time()), executor,
                                 enrolled_in=composition.enrolled_in(deployment))

        measured["ingest"], counts = timed(ingest)
        say(workers, "ingest", measured["ingest"])
        measured["commands"] = sum(counts.values())

        for step, run in replays(deployment, directory, key, executor).items():
            measured[step], result = timed(run)
            if step.startswith("audit"):
                measured[f"{step}_clean"] = result["clean"]
            elif step.startswith("whatif_"):
                measured[f"claims_{step[len('whatif_'):]}"] = result.summary["claims"]
            say(workers, step + (f" (clean: {result['clean']})" if step.startswith("audit")
                                 else ""),
                measured[step])
    events = 0
    size = 0
    for region in deployment.regions:
        app = composition.open_store(region.url)
        events += app.recorder.max_notification_id() or 0
        app.close()
        db = Path(region.url[len("sqlite:///"):])
        size += sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    measured["events"] = events
    measured["bytes_per_event"] = size / events if events else 0
    return measured


STEPS = ("ingest", *REPLAYS)
#: The steps the issue's total counts: ingested, projected, audited, both what-ifs.
TOTAL = tuple(s for s in STEPS if s != "audit_no_views")


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one worker count as one: each step's median time (the counts, which
    every run shares, from the first)."""
    out = dict(runs[0])
    for step in STEPS:
        out[step] = statistics.median(r[step] for r in runs)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=3000)
    parser.add_argument("--regions", type=int, default=4, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="Keep the province's files here.")
    parser.add_argument("--library-events", type=int, default=None,
                        help="Events of the library's best case (default: as many as the "
                             "province stored; its rate is steady, so a large province can "
                             "measure it on fewer)")
    parser.add_argument("--skip-single", action="store_true",
                        help="Measure at --workers only (a large province: half the time); "
                             "the speedup columns then compare the run with itself.")
    parser.add_argument("--rounds", type=int, default=1,
                        help="Run every worker count this many times, in turns, each on a "
                             "fresh deployment; the tables show each step's median time and "
                             "its efficiency's median and range over the rounds (one run "
                             "scatters too much on a shared host to settle an efficiency).")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="benefitpool-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "province.jsonl"
    seconds, (lines, persons) = timed(lambda: province_file(path, args.households,
                                                            args.regions, args.seed))
    print(f"province: {args.households} households ({persons} persons) in {args.regions} "
          f"regions, {lines} commands ({seconds:.1f} s to generate)")
    counts = sorted({args.workers} if args.skip_single else {1, args.workers})
    made: dict[int, list[dict[str, Any]]] = {w: [] for w in counts}
    for round_ in range(1, max(1, args.rounds) + 1):
        for workers in counts:
            place = folder / (f"w{workers}" if args.rounds <= 1 else f"w{workers}-r{round_}")
            shutil.rmtree(place, ignore_errors=True)  # a fresh deployment each run
            made[workers].append(run_steps(deployment_in(place, args.regions), path, workers))
            print(f"  {workers} worker(s): " + ", ".join(
                f"{k} {made[workers][-1][k]:.1f} s" for k in STEPS), flush=True)
    runs = {w: _median_run(m) for w, m in made.items()}
    one, many = runs[min(runs)], runs[max(runs)]  # one: the single-worker run if made
    for old in folder.glob("library.db*"):  # a fresh file, as ingest's stores are
        old.unlink()
    library = bench_library(folder / "library.db", min(one["events"], args.library_events
                                                         or one["events"]), 2000)
    n = max(runs)
    print()
    for name, value in machine("eventsourcing", "dask", "distributed", "pyarrow", "duckdb"):
        print(f"{name:>14}: {value}")
    print(f"{'load average':>14}: {os.getloadavg()[0]:.2f}")
    print()
    first = min(runs)
    total = sum(many[s] for s in TOTAL)
    if first == n:  # --skip-single: no speedup to show
        print(f"| step | {n} workers (s) |\n|---|---|")
        for step in STEPS:
            print(f"| {step} | {many[step]:.1f} |")
        print(f"| total (without audit_no_views) | {total:.1f} |")
    else:
        rounds = len(made[n])
        median = " (medians)" if rounds > 1 else ""
        print(f"| step | 1 worker (s){median} | {n} workers (s){median} | speedup | "
              f"efficiency{median} |" + (" efficiency, each round |" if rounds > 1 else ""))
        print("|---|---|---|---|---|" + ("---|" if rounds > 1 else ""))
        for step in STEPS:
            each = [a[step] / b[step] / n if b[step] else 0.0
                    for a, b in zip(made[1], made[n], strict=True)]
            speedup = one[step] / many[step] if many[step] else 0.0
            print(f"| {step} | {one[step]:.1f} | {many[step]:.1f} | {speedup:.2f} | "
                  f"{statistics.median(each):.2f} |"
                  + (f" {', '.join(f'{e:.2f}' for e in each)} |" if rounds > 1 else ""))
        print(f"| total (without audit_no_views) | {sum(one[s] for s in TOTAL):.1f} | "
              f"{total:.1f} | | |"
              + (" |" if rounds > 1 else ""))
    print()
    rate = one["events"] / one["ingest"]
    lib_rate = library["events"] / library["seconds"]
    audit_rate = one["events"] / one["audit"]
    print(f"events: {one['events']:,} ({one['commands']:,} commands); "
          f"bytes/event {one['bytes_per_event']:.0f} (every table of the region stores, "
          "views included)")
    per = "per core" if first == 1 else f"at {first} workers (not per core)"
    print(f"ingest {per}: {rate:,.0f} events/s; library best case (one core) {lib_rate:,.0f} "
          f"events/s; ratio {rate / lib_rate:.2f}")
    print(f"audit {per}: {audit_rate:,.0f} events/s (ingest / audit = "
          f"{rate / audit_rate:.2f})")
    redecided = one["events"] / one["audit_no_views"]
    print(f"audit without views (chain, decisions, directory) {per}: {redecided:,.0f} "
          f"events/s (ingest / it = {rate / redecided:.2f})")
    print(f"claims: {one['claims_outpatient']:,}; fast what-if (outpatient) end to end "
          f"{one['claims_outpatient'] / one['whatif_outpatient']:,.0f} claims/s {per}")
    per_resident = one["events"] / max(1, persons)
    for label, residents in (("prefecture, 8 M residents", 8e6),
                             ("province, 50 M residents", 50e6)):
        events = per_resident * residents
        hours = events * total / many["events"] / 3600
        print(f"extrapolated {label}: {events / 1e6:,.0f} M events; all steps "
              f"{hours:,.1f} h on this machine ({n} workers), {hours / 8:,.1f} h on 8 such "
              "machines (regions spread over them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
