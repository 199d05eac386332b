"""Read models: rebuild rate against the library's own read-and-decode rate; household query
latency from the views against aggregate replay.

    python benchmarks/views.py --households 20000

Generates a synthetic county (adapters.generator) and ingests it into a fresh SQLite file,
then in one run, on that file:

  (a) rebuild: `projections.views.rebuild` of every view (drop, recreate, read the log after
      position 0, decode, fold, write rows and tracking in one transaction per batch), in
      events/s over every event of the log; (a') the same with `freeze_gc=True`;
  (b) the library's own read-and-decode of the same notifications: `select_notifications` in
      pages of `--batch-size` and `mapper.to_domain_event` for each, in events/s;
  (d) the catch-up a first query or `audit verify` makes after an ingest (every view empty,
      the whole log behind): in batches of 1,000 throughout (`far_step=None`, as before ADR
      116) and in far steps of 20,000 until within them (ADR 116), alternated;
  (c) `--queries` household queries for random heads: from the views (`projections.queries.
      household`), from the views after the catch-up check a CLI makes before answering, and
      from aggregate replay (`tests.support.oracles.household_view`), p50 and p99 in milliseconds.

(a) and (b) alternate `--repeat` times; the best of each is reported. The views live in the
same SQLite file as the events (as with one `--db`), unless `--separate-views`.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from machine import machine  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

from adapters.application.ledger import Ledger  # noqa: E402
from adapters.composition import open_ledger  # noqa: E402
from adapters.generator import generate_county  # noqa: E402
from adapters.stores.policy_files import load_policy_book  # noqa: E402
from projections import queries  # noqa: E402
from projections import tables as t  # noqa: E402
from projections.views import FAR_STEP, LedgerViews, catch_up, rebuild  # noqa: E402
from tests.support.oracles import household_view  # noqa: E402


def ingest(ledger: Ledger, households: int, regime: str, seed: int) -> tuple[int, int, float]:
    book = ledger.policies
    start = time.perf_counter()
    commands = 0
    lines = (json.dumps(c, ensure_ascii=False) for c in
             generate_county(households, regime, seed, book))
    for _ in ledger.execute_lines(lines, batch_size=1000, freeze_gc=True):
        commands += 1
    return commands, ledger.app.recorder.max_notification_id() or 0, \
        time.perf_counter() - start


def read_and_decode(app, page: int) -> tuple[int, float]:
    """The library's own rate: every notification read in pages and decoded."""
    start = time.perf_counter()
    decode = app.mapper.to_domain_event
    position, count = 0, 0
    while True:
        notifications = app.recorder.select_notifications(position + 1, page)
        if not notifications:
            break
        for n in notifications:
            decode(n)
        count += len(notifications)
        position = notifications[-1].id
    return count, time.perf_counter() - start


def latencies(f: Callable[[str], object], refs: list[str]) -> tuple[float, float]:
    times = []
    for ref in refs:
        start = time.perf_counter()
        f(ref)
        times.append(time.perf_counter() - start)
    times.sort()
    return (times[len(times) // 2] * 1000,
            times[min(len(times) - 1, int(len(times) * 0.99))] * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--regime", default="fuyang-2021", help="policy id of the county")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=5000,
                        help="notifications per rebuild batch and per decode page "
                             "(rebuild's default)")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--separate-views", action="store_true",
                        help="keep the views in their own SQLite file")
    args = parser.parse_args(argv)

    print("machine")
    for key, value in machine("eventsourcing", "sqlalchemy"):
        print(f"  {key:<14} {value}")
    book = load_policy_book()
    year = next(p.year for p in book.in_force() if p.id == args.regime)
    with tempfile.TemporaryDirectory(prefix="benefitpool-views-") as tmp:
        db = Path(tmp) / "ledger.db"
        ledger = open_ledger(f"sqlite:///{db}", book)
        commands, events, seconds = ingest(ledger, args.households, args.regime, args.seed)
        print(f"\ningested {args.households} households of {args.regime} (seed {args.seed}): "
              f"{commands} commands, {events} events in {seconds:.1f} s", flush=True)
        # Measure as `benefitpool views rebuild` runs: a fresh process, without the ingest's
        # aggregate cache on the heap (which the cyclic collector would otherwise rescan).
        ledger.app.close()
        del ledger
        gc.unfreeze()
        gc.collect()
        ledger = open_ledger(f"sqlite:///{db}", book)
        views_db = Path(tmp) / "views.db" if args.separate_views else db
        engine = create_engine(f"sqlite:///{views_db}")
        views = LedgerViews(engine, book)
        app = ledger.app

        best_rebuild = best_frozen = best_decode = best_short = best_far = float("inf")
        for i in range(args.repeat):
            gc.collect()
            start = time.perf_counter()
            reached = rebuild(app, views, batch_size=args.batch_size)
            best_rebuild = min(best_rebuild, time.perf_counter() - start)
            assert reached == events
            gc.collect()
            decoded, took = read_and_decode(app, args.batch_size)
            assert decoded == events
            best_decode = min(best_decode, took)
            gc.collect()
            start = time.perf_counter()
            rebuild(app, views, batch_size=args.batch_size, freeze_gc=True)
            best_frozen = min(best_frozen, time.perf_counter() - start)
            gc.unfreeze()
            for far_step in (None, FAR_STEP):
                views.reset(list(t.VIEWS))
                gc.collect()
                start = time.perf_counter()
                catch_up(app, views, far_step=far_step)
                took = time.perf_counter() - start
                if far_step is None:
                    best_short = min(best_short, took)
                else:
                    best_far = min(best_far, took)
            print(f"  round {i + 1}: catch-up from nothing {took:.2f} s in far steps, "
                  f"{best_short:.2f} s best in batches of 1,000", flush=True)
            print(f"  round {i + 1}: rebuild {events / best_rebuild:,.0f} events/s "
                  f"({events / best_frozen:,.0f} with freeze_gc), read-and-decode "
                  f"{events / best_decode:,.0f} events/s", flush=True)

        heads = [h for h, in engine.connect().exec_driver_sql(
            "SELECT head FROM household_pool ORDER BY head")]
        rng = random.Random(args.seed)
        refs = [h.removeprefix("doc:") for h in rng.choices(heads, k=args.queries)]
        from_views = latencies(lambda r: queries.household(engine, r, year), refs)
        with_check = latencies(lambda r: queries.household(
            engine, r, year, refresh=lambda: catch_up(app, views)), refs)
        replayed = latencies(lambda r: household_view(ledger, r, year), refs)
        app.close()
        engine.dispose()

    rebuild_eps = events / best_rebuild
    decode_eps = events / best_decode
    print(f"\nviews in {'their own file' if args.separate_views else 'the ledger file'}; "
          f"batches of {args.batch_size}; best of {args.repeat}\n")
    widths = [52, 10, 16]
    print("  ".join(h.ljust(w) for h, w in zip(("what", "seconds", "events/s"), widths,
                                                strict=True)))
    print("  ".join("-" * w for w in widths))
    for what, sec in (("(a) rebuild all views", best_rebuild),
                      ("(a') rebuild all views, freeze_gc=True", best_frozen),
                      ("(b) library select_notifications + to_domain_event", best_decode),
                      ("(d) catch-up from nothing, batches of 1,000", best_short),
                      (f"(d') catch-up from nothing, far steps of {FAR_STEP:,}", best_far)):
        print("  ".join(v.ljust(w) for v, w in zip(
            (what, f"{sec:.2f}", f"{events / sec:,.0f}"), widths, strict=True)))
    print(f"\nrebuild / read-and-decode = {rebuild_eps / decode_eps:.2f} "
          f"({events / best_frozen / decode_eps:.2f} with freeze_gc; target >= 0.5)")
    print(f"catch-up from nothing, far steps / batches of 1,000: "
          f"{best_short / best_far:.2f} times as fast (ADR 116)\n")
    widths = [52, 10, 10]
    print("  ".join(h.ljust(w) for h, w in zip((f"(c) household query, {args.queries} random",
                                                "p50 ms", "p99 ms"), widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for what, (p50, p99) in (("from the views", from_views),
                             ("from the views, catch-up check first", with_check),
                             ("aggregate replay (oracles.household_view)", replayed)):
        print("  ".join(v.ljust(w) for v, w in zip((what, f"{p50:.3f}", f"{p99:.3f}"), widths,
                                                   strict=True)))
    print(f"\nhousehold query p99 from the views < 2 ms: {'yes' if from_views[1] < 2 else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
