"""`audit verify` just after an ingest: the live views caught up from the audit's own read of
the log (ADR 117) against reading the log a second time for them (before ADR 117).

    python benchmarks/audit.py --households 5000 --rounds 3

Generates a synthetic county (adapters.generator), ingests it into a fresh SQLite file (the
views not built, as `benefitpool ingest` leaves them), then each round copies that file twice
and audits each copy as `audit verify` does (`run_audit` in a process of its own: the
collector frozen per batch), in turns:

  (a) as shipped: live views more than 20,000 positions behind are folded from the events
      the re-decisions read, the last stretch by the audit's own catch-up (ADR 117);
  (b) the baseline: `far_step` larger than the log, so the live views are caught up by the
      audit's own catch-up alone, reading the log again (as before ADR 117; its far steps of
      ADR 116 unchanged).

Both audits must find the store clean (their live views then equal the views rebuilt from
the log). Prints each round, the medians and their ratio, and the host's stolen CPU share in
each run. A county of fewer events than `--far-step` audits the same way in (a) and (b).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from machine import cpu_ticks, machine, stolen_share  # noqa: E402
from views import ingest  # noqa: E402

from adapters.composition import open_ledger, open_views  # noqa: E402
from adapters.stores.policy_files import load_policy_book  # noqa: E402
from adapters.usecases.audit import (  # noqa: E402
    decisions_in_own_process,
    fresh_in_own_process,
    run_audit,
)
from projections.views import FAR_STEP  # noqa: E402

NEVER = 2**62  # a far step no log reaches: the live views caught up by the audit alone


def audit_copy(original: Path, folder: Path, far_step: int) -> tuple[float, float, bool]:
    """Audit a fresh copy of the store; returns (seconds, stolen share, clean)."""
    copy = folder / f"audit-{far_step}.db"
    for old in folder.glob(copy.name + "*"):
        old.unlink()
    shutil.copyfile(original, copy)
    url = f"sqlite:///{copy}"
    book = load_policy_book()
    ledger = open_ledger(url, book)
    views = open_views(ledger.app, book, url)
    try:
        ticks = cpu_ticks()
        start = time.perf_counter()
        report = run_audit(ledger.app, book, views, decisions_check=decisions_in_own_process,
                           fresh_views=fresh_in_own_process, far_step=far_step)
        seconds = time.perf_counter() - start
        return seconds, stolen_share(ticks, cpu_ticks()), bool(report["clean"])
    finally:
        views.engine.dispose()
        ledger.app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--regime", default="fuyang-2021", help="policy id of the county")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--far-step", type=int, default=FAR_STEP,
                        help="(a)'s far step (default ADR 116's 20,000; smaller for a small "
                             "county)")
    args = parser.parse_args(argv)
    for key, value in machine("eventsourcing"):
        print(f"{key:>14}: {value}")
    with tempfile.TemporaryDirectory(prefix="benefitpool-audit-") as place:
        folder = Path(place)
        original = folder / "ledger.db"
        ledger = open_ledger(f"sqlite:///{original}", load_policy_book())
        commands, events, took = ingest(ledger, args.households, args.regime, args.seed)
        ledger.app.close()
        print(f"ingested {args.households} households ({commands} commands, {events} events) "
              f"in {took:.1f} s; the views not built")
        shipped, baseline = [], []
        for n in range(1, args.rounds + 1):
            for name, far_step, times in (("(a) from the audit's read", args.far_step, shipped),
                                          ("(b) read again", NEVER, baseline)):
                seconds, stolen, clean = audit_copy(original, folder, far_step)
                if not clean:
                    print(f"round {n}: {name}: the audit did not find the store clean")
                    return 1
                times.append(seconds)
                print(f"round {n}: {name} {seconds:.1f} s (host steal {stolen:.0%})",
                      flush=True)
    a, b = statistics.median(shipped), statistics.median(baseline)
    print(f"\nmedians: (a) {a:.1f} s, (b) {b:.1f} s; (a) / (b) = {a / b:.2f} "
          f"({events / a:,.0f} against {events / b:,.0f} events/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
