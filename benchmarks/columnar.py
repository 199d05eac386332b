"""The fast what-if end to end from the columnar store against the same from the SQL views.

    python benchmarks/columnar.py --households 26000 --visit-rate 5 --keep /tmp/whatif-bench

Builds (or reuses, `--keep`) the dense county of `benchmarks/whatif.py` in a SQLite file with
its views caught up, builds its columnar store from the log (timed, not the subject), then in
one run measures, for the patch of `benchmarks/whatif.py` (ratio 0.60, cap 300 yuan), each
best of `--repeat`, in the order (b), (c), (a) (so that (a)'s million outcome tuples, kept for
the comparison, do not slow the others):

  (a) today's path, from the SQL views: claims journal, members and person-years read out of
      SQLite, columns built, every claim settled, the households folded, the summary made;
  (b) the same from the columnar store (ADR 50): its catch-up check, the scope's claims,
      households, members and person-years read out of DuckDB (`--threads`, default 1: one
      core), the baseline's pools folded from those columns (ADR 102), settled, folded, the
      summary made; with where its time goes, in the process's first run and at best;
  (c) the core: `settle_columns` over the columns of (b);

and checks that (a) and (b) give every claim the same outcome and the same summary. Prints
claims/s (for (b) also of the process's first run) and the ratios (b)/(a) and (b)/(c).
`--fresh N` then runs (b) once in each of N new processes, one after the other: how long a
process's first what-if takes, N times over.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from machine import machine  # noqa: E402
from whatif import PATCH, prepare  # noqa: E402

from adapters.generator import find_regime  # noqa: E402
from adapters.stores.columnar import ColumnarStore  # noqa: E402
from adapters.stores.columnar.catchup import catch_up as columnar_catch_up  # noqa: E402
from adapters.stores.columnar.read import read_scope  # noqa: E402
from adapters.stores.policy_files import apply_patch, load_policy_book  # noqa: E402
from adapters.whatif.columnar import (  # noqa: E402
    baseline_from_columns,
    columnar_whatif,
    kernel_input_of,
)
from adapters.whatif.exact import Scope, report  # noqa: E402
from adapters.whatif.fast import ClaimsFacts, baseline_from_views, fast_whatif  # noqa: E402


def from_views(views, scope, reform, ledger):
    facts = ClaimsFacts(views.engine, scope)
    baseline = baseline_from_views(views.engine, scope, facts)
    side = fast_whatif(views.engine, scope, baseline, reform, PATCH, ledger.app, facts)
    return baseline, side, report(scope, baseline, side, "fast")


def from_columns(views, scope, reform, ledger, columnar, steps):
    t = time.perf_counter()
    columnar_catch_up(ledger.app, columnar, stop=min(views.positions().values()))
    steps["catch-up check"] = time.perf_counter() - t
    t = time.perf_counter()
    sc = read_scope(columnar, scope.region, scope.year)
    steps["read claims and members (DuckDB)"] = time.perf_counter() - t
    t = time.perf_counter()
    baseline = baseline_from_columns(views.engine, scope, sc)
    steps["baseline: pools and person-years (columns)"] = time.perf_counter() - t
    t = time.perf_counter()
    side = columnar_whatif(views.engine, scope, sc, baseline, reform, PATCH)
    steps["assemble, settle, fold households"] = time.perf_counter() - t
    t = time.perf_counter()
    summary = report(scope, baseline, side, "fast")
    steps["summary"] = time.perf_counter() - t
    return baseline, side, summary, sc


def best(repeat: int, run):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
    return min(times), times, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=26_000)
    parser.add_argument("--visit-rate", type=float, default=5.0)
    parser.add_argument("--regime", default="fuyang-2021")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="DuckDB's threads.")
    parser.add_argument("--keep", type=Path, help="Keep (and reuse) the store in this folder.")
    parser.add_argument("--fresh", type=int, default=0,
                        help="Then run (b) once in each of this many new processes (--keep).")
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.once:
        return _once(args)

    print("machine")
    for key, value in machine("eventsourcing", "numpy", "duckdb", "pyarrow"):
        print(f"  {key:<14} {value}")
    book = load_policy_book()
    policy = find_regime(book, args.regime)
    scope = Scope(policy.region, policy.year)
    reform = apply_patch(book, PATCH, "benchmark patch", scope.region, scope.year)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        ledger, views = prepare(folder, args.households, args.visit_rate, args.regime,
                                args.seed, book)
        columnar = ColumnarStore(folder / "whatif.db.columnar" / "claims.duckdb",
                                 ledger.app.name, threads=args.threads)
        t = time.perf_counter()
        built = columnar.position
        reached = columnar_catch_up(ledger.app, columnar)
        print(f"columnar store caught up from {built} to {reached} in "
              f"{time.perf_counter() - t:.0f} s (not the subject)", flush=True)

        steps_best: dict[str, float] = {}
        steps_first: dict[str, float] = {}

        def run_b():
            steps: dict[str, float] = {}
            result = from_columns(views, scope, reform, ledger, columnar, steps)
            if not steps_first:
                steps_first.update(steps)
            for k, v in steps.items():
                steps_best[k] = min(v, steps_best.get(k, v))
            return result

        seconds_b, runs_b, (base_b, side_b, summary_b, sc) = best(args.repeat, run_b)
        print(f"\n(b) from the columnar store: {len(sc)} claims, best {seconds_b:.2f} s "
              f"({', '.join(f'{s:.2f}' for s in runs_b)})", flush=True)
        for k, v in steps_best.items():
            print(f"      {k:<42} {v:.3f} s (best), {steps_first[k]:.3f} s (first run)")

        kernel = kernel_input_of(sc, reform)
        seconds_c, _, _ = best(args.repeat, kernel.settle)
        print(f"(c) core: best {seconds_c:.3f} s", flush=True)

        # (a) last: its million outcome tuples, kept alive for the comparison, would slow
        # whatever ran after them (the cyclic collector walks them)
        gc.collect()
        seconds_a, runs_a, (base_a, side_a, summary_a) = best(
            args.repeat, lambda: from_views(views, scope, reform, ledger))
        claims = len(side_a.claims)
        print(f"(a) from the views: {claims} claims, best {seconds_a:.2f} s "
              f"({', '.join(f'{s:.2f}' for s in runs_a)})", flush=True)

        same = (dict(side_b.claims) == dict(side_a.claims)
                and dict(base_b.claims) == dict(base_a.claims) and summary_a == summary_b
                and side_a.households == side_b.households)
        print(f"(a) and (b) agree on every claim, household and the summary: {same}")
        columnar.close()
        ledger.app.close()
        views.engine.dispose()

    figures = {
        "claims": claims, "duckdb_threads": args.threads,
        "views_end_to_end_claims_per_s": round(claims / seconds_a),
        "columnar_end_to_end_claims_per_s": round(claims / seconds_b),
        "columnar_first_run_claims_per_s": round(claims / runs_b[0]),
        "core_claims_per_s": round(claims / seconds_c),
        "columnar_over_views": round(seconds_a / seconds_b, 1),
        "columnar_over_core": round(seconds_c / seconds_b, 3),
        "steps_best_s": {k: round(v, 3) for k, v in steps_best.items()},
        "steps_first_run_s": {k: round(v, 3) for k, v in steps_first.items()},
        "agree": same,
    }
    if args.fresh and args.keep:
        firsts = [_fresh(args) for _ in range(args.fresh)]
        print(f"(b) first run of {args.fresh} new processes: "
              f"{', '.join(f'{s:.2f}' for s in firsts)} s")
        figures["fresh_first_runs_s"] = [round(s, 3) for s in firsts]
        figures["fresh_first_run_claims_per_s_worst"] = round(claims / max(firsts))
    print("\n" + json.dumps(figures, indent=2))
    print(f"\ncolumnar end to end / views end to end = {seconds_a / seconds_b:.1f}x")
    print(f"columnar end to end / core             = {seconds_c / seconds_b:.2f}")
    return 0 if same else 1


def _fresh(args) -> float:
    """(b) once in a new process on the kept store: its first run's seconds."""
    out = subprocess.run(
        [sys.executable, __file__, "--once", "--keep", str(args.keep), "--households",
         str(args.households), "--visit-rate", str(args.visit_rate), "--regime", args.regime,
         "--seed", str(args.seed), "--threads", str(args.threads)],
        check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def _once(args) -> int:
    """(b) once, this process's first: prints its seconds last."""
    book = load_policy_book()
    policy = find_regime(book, args.regime)
    scope = Scope(policy.region, policy.year)
    reform = apply_patch(book, PATCH, "benchmark patch", scope.region, scope.year)
    ledger, views = prepare(args.keep, args.households, args.visit_rate, args.regime,
                            args.seed, book)
    columnar = ColumnarStore(args.keep / "whatif.db.columnar" / "claims.duckdb",
                             ledger.app.name, threads=args.threads)
    if columnar.position != min(views.positions().values()):
        raise SystemExit("the kept columnar store is not caught up: run without --once first")
    t = time.perf_counter()
    from_columns(views, scope, reform, ledger, columnar, {})
    seconds = time.perf_counter() - t
    columnar.close()
    ledger.app.close()
    views.engine.dispose()
    print(f"{seconds:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
