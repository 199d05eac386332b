"""Partitioned replays (ADRs 54, 55): `audit verify`'s re-decision, alone and in parts on a
local Dask cluster of 1 and 2 worker processes, against `ingest` of the same county, in one run.

    python benchmarks/replays.py --households 5000

Generates a synthetic county and ingests it into a fresh SQLite file (timed: the ingest rate,
which the re-decision should at least match per core), then on that file:

  (a) the re-decision in this process (`verify_decisions`), events/s, and its ratio to ingest;
  (b) the same, split into 8 parts (`plan_of`), the parts run one after another in this
      process (what partitioning itself costs: work efficiency), then on a local Dask cluster
      of 1 and of 2 worker processes (`dask_decisions`), the cluster started beforehand and
      its start-up timed apart; each run's findings must equal (a)'s;
  (c) the whole `audit verify` (chain, decisions, views) alone and with the decisions on the
      2-worker cluster (this process checking the chain and the views meanwhile);
  (d) `views rebuild` of every view in one pass, then folded in parts on the clusters of 1 and
      2 workers and written by this process (ADR 80); the rows must equal (d)'s one pass.

Speedup = (a) / (b); parallel efficiency = speedup / workers. Each figure is the best of
`--repeat` runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from machine import machine  # noqa: E402

from adapters.application.partitions import plan_of  # noqa: E402
from adapters.composition import open_ledger, open_store, open_views, store_source  # noqa: E402
from adapters.generator import generate_county  # noqa: E402
from adapters.parallel.cluster import dask_client  # noqa: E402
from adapters.parallel.replays import dask_decisions, dask_views_rebuild  # noqa: E402
from adapters.stores.policy_files import load_policy_book  # noqa: E402
from adapters.usecases.audit import run_audit  # noqa: E402
from adapters.usecases.decisions import (  # noqa: E402
    in_process,
    verify_decisions,
    verify_partitioned,
)
from adapters.usecases.views import rebuild  # noqa: E402
from projections.tables import VIEWS  # noqa: E402
from projections.views import catch_up  # noqa: E402
from tests.properties.test_view_properties import snapshot  # noqa: E402


def best(repeat: int, run):
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--regime", default="fuyang-2021")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)

    print("machine")
    for key, value in machine("eventsourcing", "dask", "distributed"):
        print(f"  {key:<14} {value}")
    book = load_policy_book()
    with tempfile.TemporaryDirectory(prefix="benefitpool-replays-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        lines = [json.dumps(c, ensure_ascii=False)
                 for c in generate_county(args.households, args.regime, args.seed, book)]
        ledger = open_ledger(url, book)
        start = time.perf_counter()
        for _ in ledger.execute_lines(lines, batch_size=1000, freeze_gc=True):
            pass
        ingest_s = time.perf_counter() - start
        ledger.app.close()
        del ledger
        gc.unfreeze()
        gc.collect()
        app = open_store(url)
        events = app.recorder.max_notification_id() or 0
        views = open_views(app, book, url)
        catch_up(app, views)
        print(f"\n{args.households} households of {args.regime}: {len(lines)} commands, "
              f"{events} events")
        print(f"  ingest                      {ingest_s:8.1f} s  {events / ingest_s:8.0f} ev/s")

        alone_s, alone = best(args.repeat, lambda: verify_decisions(app, book, freeze_gc=True))
        print(f"  re-decision, one process    {alone_s:8.1f} s  {events / alone_s:8.0f} ev/s"
              f"  ({ingest_s / alone_s:.2f}x ingest's rate)")
        start = time.perf_counter()
        plan = plan_of(app, 8)
        print(f"  plan (8 parts)              {time.perf_counter() - start:8.1f} s  "
              f"{plan.components} components")
        parts_s, parts_found = best(args.repeat, lambda: verify_partitioned(
            plan, in_process(app, book, freeze_gc=True)))
        assert parts_found == alone, "partitioned findings differ"
        print(f"  8 parts, one after another  {parts_s:8.1f} s  work efficiency "
              f"{alone_s / parts_s:.2f}  (what partitioning costs, without Dask)")
        rebuild_s, _ = best(args.repeat, lambda: rebuild(app, views, list(VIEWS)))
        rows = snapshot(views.engine)
        print(f"  views rebuild, one process  {rebuild_s:8.1f} s  {events / rebuild_s:8.0f} ev/s")
        source = store_source(url, None, book)
        split_2 = None
        for workers in (1, 2):
            start = time.perf_counter()
            with dask_client(workers, None) as client:
                started = time.perf_counter() - start
                check = dask_decisions(client, source)
                took, found = best(args.repeat, lambda c=check: c(app, book, events))
                assert found == alone, "partitioned findings differ"
                speedup = alone_s / took
                print(f"  re-decision, {workers} worker(s)     {took:8.1f} s  "
                      f"{events / took:8.0f} ev/s  speedup {speedup:.2f}  efficiency "
                      f"{speedup / workers:.2f}  (cluster start {started:.1f} s)")
                by_parts = dask_views_rebuild(client, source, VIEWS)
                took, (_, folded) = best(args.repeat, lambda r=by_parts: r(app, views))
                assert folded and snapshot(views.engine) == rows, "views rebuilt differ"
                speedup = rebuild_s / took
                print(f"  views rebuild, {workers} worker(s)   {took:8.1f} s  "
                      f"{events / took:8.0f} ev/s  speedup {speedup:.2f}  efficiency "
                      f"{speedup / workers:.2f}  ({folded} parts)")
                if workers == 2:
                    whole_s, _ = best(1, lambda: run_audit(
                        app, book, views, decisions_check=lambda a, b, u: verify_decisions(
                            a, b, u, freeze_gc=True)))
                    split_2, _ = best(1, lambda c=check: run_audit(
                        app, book, views, decisions_check=c, decisions_elsewhere=True))
                    print(f"  audit verify, one process   {whole_s:8.1f} s")
                    print(f"  audit verify, 2 workers     {split_2:8.1f} s  speedup "
                          f"{whole_s / split_2:.2f}")
        views.engine.dispose()
        app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
