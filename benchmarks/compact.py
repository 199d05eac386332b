"""Compact events (ADRs 52 and 53): bytes per event and ingest time, the former store format
against the compact one, interleaved in one run.

    python benchmarks/compact.py --households 2000 --rounds 3

Generates a synthetic county, then, each round, ingests it (`adapters.usecases.ingest.
ingest_file`, as `benefitpool ingest` does) into a fresh SQLite file once per store format,
in an order that alternates between rounds, so that a machine loaded by others slows every
format alike:

  former      states as the transcoder's JSON, chain rows of format "1" (as stores were
              written before ADR 52; the baseline)
  compressed  states compressed with dictionary 1 (ADR 52), chain rows of format "1"
  lean chain  states as JSON, chain rows of format "2" (ADR 53)
  compact     both: what the ledger writes now

Prints, per format, the median ingest time, events/s and its ratio to the former format, and
the bytes per event of the event store (and of its tables) as `benefitpool stats` counts them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from machine import machine  # noqa: E402

from adapters.application.ledger import Ledger  # noqa: E402
from adapters.generator import write_county  # noqa: E402
from adapters.stores.events import LedgerApplication  # noqa: E402
from adapters.stores.policy_files import load_policy_book  # noqa: E402
from adapters.stores.urls import store_env  # noqa: E402
from adapters.usecases.ingest import ingest_file  # noqa: E402
from adapters.usecases.stats import store_stats  # noqa: E402


class Former(LedgerApplication):
    compressor_topic = ""
    chain_format = "1"


class Compressed(LedgerApplication):
    chain_format = "1"


class LeanChain(LedgerApplication):
    compressor_topic = ""


FORMATS = {"former": Former, "compressed": Compressed, "lean chain": LeanChain,
           "compact": LedgerApplication}


def ingest(application: type[LedgerApplication], county: Path, db: Path,
           batch_size: int) -> tuple[float, int]:
    ledger = Ledger(application(env=store_env(f"sqlite:///{db}")), load_policy_book())
    start = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        ingest_file(ledger, county, sink, batch_size)
    seconds = time.perf_counter() - start
    events = ledger.app.recorder.max_notification_id() or 0
    ledger.app.close()
    return seconds, events


def sizes(application: type[LedgerApplication], db: Path) -> dict:
    app = application(env=store_env(f"sqlite:///{db}"))
    try:
        return store_stats(app, sample_size=5_000)
    finally:
        app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--regime", default="fuyang-2021")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)

    print("machine")
    for key, value in machine("eventsourcing"):
        print(f"  {key:<14} {value}")
    times: dict[str, list[float]] = {name: [] for name in FORMATS}
    events: dict[str, int] = {}
    found: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="benefitpool-compact-") as tmp:
        folder = Path(tmp)
        county = folder / "county.jsonl"
        lines = write_county(county, args.households, args.regime, args.seed)
        print(f"\ngenerated {args.households} households of {args.regime} (seed {args.seed}):"
              f" {lines} commands")
        names = list(FORMATS)
        for r in range(args.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                db = folder / f"{name.replace(' ', '-')}-{r}.db"
                seconds, n = ingest(FORMATS[name], county, db, args.batch_size)
                times[name].append(seconds)
                events[name] = n
                print(f"  round {r + 1} {name:<11} {n} events in {seconds:6.1f} s", flush=True)
                if r == args.rounds - 1:
                    found[name] = sizes(FORMATS[name], db)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)

    base = statistics.median(times["former"])
    print("\nformat       median s  events/s  time vs former  event store B/event  "
          "events table  pk index  chain   state stored/raw")
    for name in FORMATS:
        median = statistics.median(times[name])
        report = found[name]
        per = {r["name"]: r["bytes_per_event"] for r in report["relations"]}
        state = report["state"]
        print(f"{name:<12} {median:8.1f}  {events[name] / median:8,.0f}  {median / base:14.2f}"
              f"  {report['totals']['event store']['bytes_per_event']:19.1f}"
              f"  {per.get('stored_events', 0):12.1f}"
              f"  {per.get('sqlite_autoindex_stored_events_1', 0):8.1f}"
              f"  {per.get('event_chain', 0):5.1f}"
              f"   {state['stored_bytes_per_event']:.1f} / "
              f"{state['sampled_raw_bytes_per_event']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
