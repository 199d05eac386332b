"""Ingest throughput: benefitpool against the eventsourcing library and raw SQLite.

    python benchmarks/ingest.py --households 20000

Generates a synthetic county (adapters.generator), writes it to a temporary JSON Lines file,
then in one run measures, each on a fresh SQLite file in the same temporary folder:

  (a) benefitpool: `adapters.usecases.ingest.ingest_file` over the file, as `benefitpool
      ingest` runs it (hash the file, decode, validate, decide, save in atomic batches each with
      its journal record, ADR 45; results to a null sink), in commands/s and events/s (events =
      the store's max notification id, the journal's one event a batch included); with
      `--command-ids` every line carries a `command_id` (ADR 44);
  (b) the library's own best case: a plain `eventsourcing.application.Application` saving
      simple aggregates (a created event and three more each), about as many events in total
      as (a), `app.save(*aggregates)` with `--batch-size` aggregates per save, in events/s;
  (c) raw `sqlite3`: `executemany` of as many rows into a table shaped like the library's
      stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB
      of ~300 bytes, primary key on id and version, WAL), `--batch-size` rows per
      transaction, in rows/s.

Prints the machine, a table and the ratios ingest/library and ingest/raw.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402
from machine import machine  # noqa: E402

from adapters.composition import open_ledger  # noqa: E402
from adapters.generator import write_county  # noqa: E402
from adapters.stores.policy_files import load_policy_book  # noqa: E402
from adapters.usecases.ingest import ingest_file  # noqa: E402

EVENTS_PER_AGGREGATE = 4  # created + 3


class Account(Aggregate):
    """A simple aggregate for the library's best case: opened, then three postings."""

    @event("Opened")
    def __init__(self, holder: str, region: str) -> None:
        self.holder = holder
        self.region = region
        self.balance = 0
        self.notes: list[str] = []

    @event("Posted")
    def post(self, amount: int, reference: str, note: str) -> None:
        self.balance += amount
        self.notes.append(reference)


class Accounts(Application):
    name = "bench_library"




def bench_ingest(path: Path, db: Path, batch_size: int) -> dict:
    book = load_policy_book()
    ledger = open_ledger(f"sqlite:///{db}", book)
    start = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        by_reason = ingest_file(ledger, path, sink, batch_size)
    seconds = time.perf_counter() - start
    counts: Counter = Counter()
    for (status, _), n in by_reason.items():
        counts[status] += n
    events = ledger.app.recorder.max_notification_id() or 0
    ledger.app.close()
    commands = sum(counts.values())
    batches = -(-commands // batch_size)
    return {"commands": commands, "ok": counts["ok"], "rejected": commands - counts["ok"],
            "events": events, "seconds": seconds, "events_per_batch": events / batches}


def bench_library(db: Path, events: int, batch_size: int) -> dict:
    app = Accounts(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": str(db)})
    n_aggregates = max(1, -(-events // EVENTS_PER_AGGREGATE))
    note = "contribution received at the township service centre; receipt issued " * 2
    start = time.perf_counter()
    batch: list[Account] = []
    for i in range(n_aggregates):
        a = Account(holder=f"holder {i:09d}", region="341225")
        for k in range(EVENTS_PER_AGGREGATE - 1):
            a.post(amount=28000 + k, reference=f"ref-{i}-{k}", note=note)
        batch.append(a)
        if len(batch) >= batch_size:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)
    seconds = time.perf_counter() - start
    stored = app.recorder.max_notification_id() or 0
    app.close()
    return {"aggregates": n_aggregates, "events": stored, "seconds": seconds}


def bench_raw(db: Path, rows: int, batch_size: int) -> dict:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
                "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))")
    topic = "domain.aggregates:Household.OutpatientClaimSettled"
    state = (b'{"claim_id":"fuyang-2021-0-C00000001","expense":{"_type_":"money","_data_":'
             b'12345},"explanation":"0.55 x 123.45 = 67.90; household pool 1000.00"}')
    state = (state * 3)[:300]
    start = time.perf_counter()
    done = 0
    while done < rows:
        n = min(batch_size, rows - done)
        params = [(UUID(int=(done + k) // EVENTS_PER_AGGREGATE).hex,
                   (done + k) % EVENTS_PER_AGGREGATE + 1, topic, state) for k in range(n)]
        con.execute("BEGIN")
        con.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", params)
        con.execute("COMMIT")
        done += n
    seconds = time.perf_counter() - start
    con.close()
    return {"rows": rows, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--regime", default="fuyang-2021", help="policy id of the county")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=1000,
                        help="commands per ingest batch; the library and raw runs then write "
                             "the same number of events per transaction as ingest did")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run ingest and the library's save this many times, in turns, "
                             "each on a fresh file: on a machine whose speed drifts, each "
                             "round's ratio is measured within minutes and the median printed")
    parser.add_argument("--command-ids", action="store_true",
                        help="give every line a command_id (the idempotency index, ADR 44)")
    args = parser.parse_args(argv)

    print("machine")
    for key, value in machine("eventsourcing"):
        print(f"  {key:<14} {value}")
    with tempfile.TemporaryDirectory(prefix="benefitpool-bench-") as tmp:
        folder = Path(tmp)
        county = folder / "county.jsonl"
        start = time.perf_counter()
        lines = write_county(county, args.households, args.regime, args.seed)
        if args.command_ids:
            with_ids = [json.dumps({**json.loads(line), "command_id": f"bench-{n}"},
                                   ensure_ascii=False)
                        for n, line in enumerate(county.read_text(encoding="utf-8")
                                                 .splitlines(), start=1)]
            county.write_text("\n".join(with_ids) + "\n", encoding="utf-8")
        gen_seconds = time.perf_counter() - start
        print(f"\ngenerated {args.households} households of {args.regime} (seed {args.seed}): "
              f"{lines} commands, {county.stat().st_size / 1e6:.1f} MB in {gen_seconds:.1f} s")

        ratios: list[float] = []
        for n in range(1, max(1, args.rounds) + 1):
            a = bench_ingest(county, folder / f"bench-{n}.db", args.batch_size)
            print(f"(a) ingest done: {a['commands']} commands ({a['rejected']} rejected), "
                  f"{a['events']} events in {a['seconds']:.1f} s", flush=True)
            per_txn = max(1, round(a["events_per_batch"]))
            b = bench_library(folder / f"library-{n}.db", a["events"],
                              max(1, round(per_txn / EVENTS_PER_AGGREGATE)))
            print(f"(b) library done: {b['aggregates']} aggregates, {b['events']} events in "
                  f"{b['seconds']:.1f} s", flush=True)
            ratios.append((a["events"] / a["seconds"]) / (b["events"] / b["seconds"]))
            if args.rounds > 1:
                print(f"    round {n}: ingest / library = {ratios[-1]:.2f}", flush=True)
        c = bench_raw(folder / "raw.db", a["events"], per_txn)
        print(f"(c) raw sqlite3 done: {c['rows']} rows in {c['seconds']:.1f} s", flush=True)

    ingest_eps = a["events"] / a["seconds"]
    library_eps = b["events"] / b["seconds"]
    raw_rps = c["rows"] / c["seconds"]
    rows = [
        ("(a) benefitpool ingest", f"{a['commands']} commands", f"{a['events']} events",
         a["seconds"], f"{a['commands'] / a['seconds']:,.0f} commands/s",
         f"{ingest_eps:,.0f} events/s"),
        ("(b) eventsourcing Application.save", f"{b['aggregates']} aggregates",
         f"{b['events']} events", b["seconds"], "", f"{library_eps:,.0f} events/s"),
        ("(c) raw sqlite3 executemany", "", f"{c['rows']} rows", c["seconds"], "",
         f"{raw_rps:,.0f} rows/s"),
    ]
    print(f"\ningest batches of {args.batch_size} commands (~{per_txn} events a transaction); "
          f"library saves of {max(1, round(per_txn / EVENTS_PER_AGGREGATE))} aggregates "
          f"x {EVENTS_PER_AGGREGATE} events; raw transactions of {per_txn} rows; each store a "
          "fresh SQLite file (WAL)\n")
    header = ("what", "input", "stored", "seconds", "commands/s", "events (rows)/s")
    widths = [36, 18, 16, 9, 20, 18]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for what, inp, stored, sec, cps, eps in rows:
        cells = (what, inp, stored, f"{sec:.2f}", cps, eps)
        print("  ".join(str(v).ljust(w) for v, w in zip(cells, widths, strict=True)))
    print(f"\ningest / library = {ingest_eps / library_eps:.2f} (events/s)")
    if len(ratios) > 1:
        print(f"rounds: {', '.join(f'{r:.2f}' for r in ratios)}; median "
              f"{statistics.median(ratios):.2f} (the table shows the last round)")
    print(f"ingest / raw     = {ingest_eps / raw_rps:.3f} (events/s over rows/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
