"""What-if throughput: the fast (column-wise) engine against the exact (replay) engine.

    python benchmarks/whatif.py --households 26000 --visit-rate 5 --keep /tmp/whatif-bench

Generates a dense synthetic county (adapters.generator, `--visit-rate` times the usual
outpatient visits, so that a county of ~26,000 households carries over 1,000,000 claims),
ingests it into a SQLite file and catches the read models up (both timed, not the subject),
then in one run measures, for one outpatient patch (ratio 0.60, cap 300 yuan):

  (a) the fast engine end to end from the store: baseline and claims facts read from the
      read models, member coverage timeline, column building, settlement, in claims/s;
  (b) the fast engine's core computation: `settle_columns` over the columns of (a), best of
      `--repeat`, in claims/s, on one core;
  (c) the raw floor for (b): plain NumPy over the same reimbursable amounts, grouped by
      household and clipped at a constant cap (a cumulative sum and a minimum, no rules);
  (d) the exact engine on a sample: the complete recorded histories of the first
      `--sample-households` households (registrations, enrollments, payments, claims…),
      replayed through the aggregates in memory, in claims/s (the replay only; reading the
      sample out of the log is not counted, which favours the exact engine); its per-claim
      results are checked against (a), and must agree to the fen.

Prints the machine, the figures and the ratios core/exact and end-to-end/exact.
`--keep DIR` keeps (and reuses) the ingested store.
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

import numpy as np  # noqa: E402
from machine import machine  # noqa: E402

from adapters.application.replay import CommandReader, in_scope, read_log  # noqa: E402
from adapters.composition import open_ledger, open_views  # noqa: E402
from adapters.generator import find_regime, write_county  # noqa: E402
from adapters.stores.policy_files import apply_patch, load_policy_book  # noqa: E402
from adapters.whatif.exact import History, Scope, Side, compare_claims, exact_whatif  # noqa: E402
from adapters.whatif.fast import (  # noqa: E402
    ClaimsFacts,
    baseline_from_views,
    fast_whatif,
    kernel_input,
    timeline_from_views,
)
from domain.aggregates import Household, Person  # noqa: E402
from domain.ids import household_id  # noqa: E402
from projections.views import catch_up  # noqa: E402

PATCH = {"outpatient": {"ratio": "0.60", "per_person_cap": "300.00"}}


def prepare(folder: Path, households: int, visit_rate: float, regime: str, seed: int, book):
    db = folder / "whatif.db"
    url = f"sqlite:///{db}"
    fresh = not db.exists()
    ledger = open_ledger(url, book)
    if fresh:
        path = folder / "county.jsonl"
        t = time.perf_counter()
        n = write_county(path, households, regime, seed, book, visit_rate)
        print(f"generated {n} commands in {time.perf_counter() - t:.0f} s", flush=True)
        t = time.perf_counter()
        with path.open(encoding="utf-8") as f:
            for _ in ledger.execute_lines(f, batch_size=2000, freeze_gc=True):
                pass
        gc.unfreeze()
        print(f"ingested in {time.perf_counter() - t:.0f} s "
              f"({ledger.app.recorder.max_notification_id()} events)", flush=True)
    views = open_views(ledger.app, ledger.policies, url)
    t = time.perf_counter()
    catch_up(ledger.app, views, batch_size=5000, freeze_gc=True)
    gc.unfreeze()
    print(f"views caught up in {time.perf_counter() - t:.0f} s", flush=True)
    return ledger, views


def sample_history(app, scope: Scope, households: int) -> History:
    """The complete recorded histories of the first `households` households formed in the
    scope: their members' registrations, enrollments, payments, subsidies, refunds and
    reports, and their claims and reversals, in log order."""
    reader = CommandReader()
    heads: dict = {}  # household id -> (head, year, region), the sample
    members: set = set()  # (person key, year)
    kept: list = []
    for rc in reader.group(read_log(app)):
        e = rc.primary
        if isinstance(e, Person.Registered | Person.EmployeeInsuranceReported):
            kept.append(rc)  # filtered below, once the sample's members are known
            continue
        if isinstance(e, Person.Enrolled):
            if not in_scope((e.region, e.year), scope.region, scope.year):
                continue
            for le in rc.events:
                if isinstance(le.event, Household.Formed) and len(heads) < households:
                    heads[le.event.originator_id] = (le.event.head, le.event.year,
                                                     le.event.region)
            if household_id(e.household_head, e.year) in heads:
                members.add((reader.persons[e.originator_id], e.year))
                kept.append(rc)
        elif isinstance(e, Household.OutpatientClaimSettled | Household.ClaimReversed):
            if e.originator_id in heads:
                kept.append(rc)
        elif (reader.persons.get(e.originator_id), e.year) in members:
            kept.append(rc)
    persons = {key for key, _ in members}
    commands = [rc for rc in kept if not isinstance(
        rc.primary, Person.Registered | Person.EmployeeInsuranceReported)
        or reader.persons.get(rc.primary.originator_id) in persons
        and (not isinstance(rc.primary, Person.EmployeeInsuranceReported)
             or (reader.persons[rc.primary.originator_id], rc.primary.year) in members)]
    return History(scope, commands, Side(), heads)


def raw_floor(household: np.ndarray, amounts: np.ndarray, cap: int) -> float:
    """Seconds for the bare formula: per household, min(cap, cumsum) minus its shift."""
    t = time.perf_counter()
    order = np.argsort(household, kind="stable")
    h, r = household[order], amounts[order]
    s = np.cumsum(r)
    start = np.r_[0, np.flatnonzero(np.diff(h)) + 1]
    base = np.repeat(np.r_[0, s[start[1:] - 1]], np.diff(np.r_[start, len(h)]))
    used = np.minimum(s - base, cap)
    paid = np.diff(np.r_[0, used])
    paid[start] = used[start]
    elapsed = time.perf_counter() - t
    if int(paid.sum()) < 0:
        raise RuntimeError("raw floor arithmetic went wrong")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=26_000)
    parser.add_argument("--visit-rate", type=float, default=5.0)
    parser.add_argument("--regime", default="fuyang-2021")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--sample-households", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Keep (and reuse) the store in this folder.")
    args = parser.parse_args(argv)

    print("machine")
    for key, value in machine("eventsourcing", "numpy"):
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

        # (a) end to end from the store
        t = time.perf_counter()
        facts = ClaimsFacts(views.engine, scope)
        baseline = baseline_from_views(views.engine, scope, facts)
        fast = fast_whatif(views.engine, scope, baseline, reform, PATCH, ledger.app, facts)
        end_to_end = time.perf_counter() - t
        claims = len(fast.claims)
        print(f"\n(a) fast engine end to end: {claims} claims in {end_to_end:.2f} s", flush=True)

        # (b) the core computation, on the columns (a) built
        timeline = timeline_from_views(views.engine, scope)
        kernel = kernel_input(facts, timeline, reform)
        columns, policies = kernel.columns, kernel.policies
        core = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            kernel.settle()
            core.append(time.perf_counter() - t)
        rows = len(columns.household)
        print(f"(b) core: {rows} claims, best {min(core):.3f} s of {args.repeat}", flush=True)

        # (c) the raw floor
        cap = policies[0].outpatient.per_person_cap.fen * 3
        floor = min(raw_floor(columns.household, columns.expense // 2, cap)
                    for _ in range(args.repeat))
        print(f"(c) raw NumPy floor: {floor:.3f} s", flush=True)

        # (d) the exact engine on a sample: the complete histories of some households
        t = time.perf_counter()
        history = sample_history(ledger.app, scope, args.sample_households)
        read_seconds = time.perf_counter() - t
        t = time.perf_counter()
        exact = exact_whatif(history, reform)
        exact_seconds = time.perf_counter() - t
        sample = len(exact.claims)
        disagreements = compare_claims(exact.claims,
                                       {c: fast.claims[c] for c in exact.claims})
        print(f"(d) exact engine: {len(history.households)} households, {sample} claims "
              f"({len(history.commands)} commands) replayed in {exact_seconds:.1f} s "
              f"(their history read from the log in {read_seconds:.0f} s, not counted); "
              f"disagreements with (a): {len(disagreements)}", flush=True)
        ledger.app.close()
        views.engine.dispose()

    core_cps = rows / min(core)
    e2e_cps = claims / end_to_end
    exact_cps = sample / exact_seconds
    figures = {
        "claims": claims, "households": len(baseline.households),
        "fast_end_to_end_claims_per_s": round(e2e_cps),
        "fast_core_claims_per_s": round(core_cps),
        "raw_numpy_floor_claims_per_s": round(rows / floor),
        "exact_claims_per_s": round(exact_cps), "exact_sample_claims": sample,
        "exact_sample_households": len(history.households),
        "core_over_exact": round(core_cps / exact_cps, 1),
        "end_to_end_over_exact": round(e2e_cps / exact_cps, 1),
        "core_over_raw_floor": round(core_cps / (rows / floor), 3),
        "engines_agree_on_sample": not disagreements,
    }
    print("\n" + json.dumps(figures, indent=2))
    print(f"\nfast core / exact       = {core_cps / exact_cps:.0f}x")
    print(f"fast end-to-end / exact = {e2e_cps / exact_cps:.0f}x")
    print(f"fast core / raw floor   = {core_cps / (rows / floor):.3f}")
    return 0 if not disagreements else 1


if __name__ == "__main__":
    raise SystemExit(main())
