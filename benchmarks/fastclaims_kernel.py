"""Claims kernel throughput: column-wise settlement against the row-by-row ledger rule.

    python benchmarks/fastclaims_kernel.py --claims 2000000

Builds synthetic but realistic claim columns in settlement order (households of 1 to 8
members, a few to a few dozen claims a household a year, 250 yuan a member, ratios 0.50 to
0.60, some household pools pooled by person, a few late joiners, leavers, suspensions,
out-of-county visits and reversals), then in one run measures:

  (a) `adapters.whatif.kernel.settle_columns` on all the claims (best of --repeat runs);
  (b) `tests.support.oracles.settle_rows_reference`, a Python loop calling
      `domain.rules.outpatient.settle` row by row, on the first --sample claims;

checks that (a) and (b) agree to the fen on the sample, and prints claims/s of both and the
ratio. Building the columns is not timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import attrs  # noqa: E402
from machine import machine  # noqa: E402

from adapters.stores.policy_files import load_policy_book  # noqa: E402
from adapters.whatif import pools  # noqa: E402
from adapters.whatif.kernel import (  # noqa: E402
    ClaimColumns,
    ClaimResults,
    settle_columns,
)
from domain.policy import CAUSES, Policy  # noqa: E402
from domain.policy_parsing import merge, policy_from_mapping  # noqa: E402
from tests.support.oracles import settle_rows_reference  # noqa: E402

COUNTY = 341225
NEIGHBOUR = 341221
YEAR = 2021
NEVER = 2**31 - 1


def policies() -> list[Policy]:
    """fuyang-2021 with ratios 0.50, 0.55 and 0.60, and a person-pooled variant."""
    book = load_policy_book()
    base = book.get("fuyang-2021", "1")
    if base is None:
        raise SystemExit("the shipped policy fuyang-2021 is missing")
    raw = book.raw(base)
    patches = [{"ratio": "0.50"}, {"ratio": "0.55"}, {"ratio": "0.60"},
               {"ratio": "0.55", "pooling": "person"}]
    return [policy_from_mapping(merge(raw, {"outpatient": p}), f"benchmark {p}")
            for p in patches]


def synthetic_columns(claims: int, seed: int) -> tuple[ClaimColumns, np.ndarray, np.ndarray]:
    """About `claims` claim rows in settlement order, with reversals (claim, after)."""
    rng = np.random.default_rng(seed)
    start = date(YEAR, 1, 1).toordinal()
    households = max(1, claims // 11)
    size = rng.choice(np.arange(1, 9), households,
                      p=[0.12, 0.22, 0.20, 0.20, 0.12, 0.08, 0.04, 0.02])
    per_household = rng.poisson(2.3 * size) + 1
    scale = claims / per_household.sum()
    per_household = np.maximum(1, np.round(per_household * scale).astype(np.int64))
    per_household[-1] += claims - per_household.sum()
    while per_household[-1] < 1:  # rounding took too many: take them back from the largest
        big = int(np.argmax(per_household[:-1]))
        per_household[big] -= 1
        per_household[-1] += 1
    policy_of = rng.choice(4, households, p=[0.3, 0.3, 0.3, 0.1]).astype(np.int32)

    # the members: covered from the year start, or joining late; a few leave or are suspended
    slots = 8
    member = np.arange(slots)[None, :] < size[:, None]
    joins = np.where(rng.random((households, slots)) < 0.05,
                     start + rng.integers(30, 300, (households, slots)), start)
    leaves = np.where(rng.random((households, slots)) < 0.01,
                      start + rng.integers(60, 365, (households, slots)), NEVER)
    suspended = rng.random((households, slots)) < 0.005

    h = np.repeat(np.arange(households, dtype=np.int64), per_household)
    n = h.size
    person = (rng.random(n) * size[h]).astype(np.int64)
    visit = start + rng.integers(0, 365, n)
    order = np.lexsort((rng.random(n), visit))  # settlement order: by day, households mixed
    h, person, visit = h[order], person[order], visit[order]

    counting = np.zeros(n, np.int32)
    for k in range(slots):
        counting += (member[h, k] & (joins[h, k] <= visit) & (visit < leaves[h, k])
                     & ~suspended[h, k])
    gone = visit >= leaves[h, person]
    expense = np.exp(rng.normal(np.log(6_000), 1.0, n)).astype(np.int64)
    columns = ClaimColumns(
        household=h,
        person=person,
        policy=policy_of[h],
        visit_day=visit.astype(np.int32),
        facility_level=rng.choice(np.array([0, 1, 2], np.int8), n, p=[0.15, 0.8, 0.05]),
        facility_region=np.where(rng.random(n) < 0.04, NEIGHBOUR, COUNTY).astype(np.int64),
        member_region=np.full(n, COUNTY, np.int64),
        expense=np.clip(expense, 100, 500_000),
        cause=np.where(rng.random(n) < 0.02, rng.integers(1, len(CAUSES), n), 0)
        .astype(np.int8),
        covered_from=np.where(gone, 0, joins[h, person]).astype(np.int32),
        covered_to=np.zeros(n, np.int32),
        suspended=suspended[h, person],
        counts_for_cap=~gone & ~suspended[h, person],
        covered_on_visit=counting,
    )
    reversed_rows = np.flatnonzero(rng.random(n) < 0.003)
    after = np.minimum(n - 1, reversed_rows + rng.integers(0, 5_000, reversed_rows.size))
    return columns, reversed_rows.astype(np.int64), after.astype(np.int64)


def head(columns: ClaimColumns, claim: np.ndarray, after: np.ndarray, rows: int
         ) -> tuple[ClaimColumns, np.ndarray, np.ndarray]:
    """The first `rows` claims and the reversals that fall among them."""
    sample = ClaimColumns(**{f.name: getattr(columns, f.name)[:rows]
                             for f in attrs.fields(ClaimColumns)})
    keep = after < rows
    return sample, claim[keep], after[keep]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=2_000_000)
    parser.add_argument("--sample", type=int, default=20_000,
                        help="claims settled by the row-by-row reference")
    parser.add_argument("--repeat", type=int, default=3, help="kernel runs; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print("machine")
    for key, value in machine("numpy"):
        print(f"  {key:<14} {value}")
    book = policies()
    start = time.perf_counter()
    columns, claim, after = synthetic_columns(args.claims, args.seed)
    print(f"\nbuilt {len(columns):,} claims of {int(columns.household.max()) + 1:,} households "
          f"with {claim.size:,} reversals in {time.perf_counter() - start:.1f} s")

    sequential_rows = []
    settle_one_by_one = pools.settle_sequentially

    def counted(rows: np.ndarray, *rest: object) -> None:
        sequential_rows.append(rows.size)
        settle_one_by_one(rows, *rest)

    pools.settle_sequentially = counted
    best = float("inf")
    for _ in range(args.repeat):
        sequential_rows.clear()
        start = time.perf_counter()
        results = settle_columns(columns, book, claim, after)
        best = min(best, time.perf_counter() - start)
    pools.settle_sequentially = settle_one_by_one
    accepted = int((results.reason == 0).sum())
    print(f"(a) kernel: {len(columns):,} claims ({accepted:,} accepted, "
          f"{sum(sequential_rows):,} settled in the sequential loop) in {best:.3f} s")

    sample, s_claim, s_after = head(columns, claim, after, min(args.sample, len(columns)))
    start = time.perf_counter()
    reference = settle_rows_reference(sample, book, s_claim, s_after)
    slow = time.perf_counter() - start
    print(f"(b) reference: {len(sample):,} claims in {slow:.3f} s")
    on_sample = settle_columns(sample, book, s_claim, s_after)
    differ = [f.name for f in attrs.fields(ClaimResults)
              if not np.array_equal(getattr(on_sample, f.name), getattr(reference, f.name))]
    print(f"kernel and reference agree on the sample: {'yes' if not differ else differ}")

    fast_rate = len(columns) / best
    slow_rate = len(sample) / slow
    print(f"\n{'what':<40}{'claims':>12}{'seconds':>10}{'claims/s':>16}")
    print(f"{'(a) settle_columns (NumPy kernel)':<40}{len(columns):>12,}{best:>10.3f}"
          f"{fast_rate:>16,.0f}")
    print(f"{'(b) settle_rows_reference (settle loop)':<40}{len(sample):>12,}{slow:>10.3f}"
          f"{slow_rate:>16,.0f}")
    print(f"\nkernel / reference = {fast_rate / slow_rate:,.0f}x (claims/s)")
    return 0 if not differ else 1


if __name__ == "__main__":
    raise SystemExit(main())
