"""The replays of a province that `scale.py --keep` left, at 1 and N workers on the same stores.

    .venv/bin/python benchmarks/kept.py /tmp/scale300k/w2 --workers 2 \
        --steps whatif_outpatient whatif_contribution --rounds 2

A province large enough for its replays' fixed costs (a Dask task per region, opening its
stores) to be small beside their work takes too long to ingest once per worker count: this
runs the chosen replays (`scale.REPLAYS`: views rebuilt with the columnar store, audit verify,
the outpatient and contribution what-ifs) on one ingested deployment, in this process alone
pinned to one core (1 worker, ADR 123) and on a local Dask cluster of N processes, in turns
for `--rounds` rounds, the cluster started before its turn and not timed. Views rebuilt write
the rows they found, so every turn reads the same stores. Prints each step's median seconds
at 1 and N workers, the speedup and the parallel efficiency (speedup / N), with each round's,
and the host's stolen CPU share.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import machine  # noqa: E402
from scale import (  # noqa: E402
    REGIONS,
    REPLAYS,
    deployment_in,
    executor_of,
    replays,
    say,
    timed,
)

from adapters import composition  # noqa: E402


def regions_in(folder: Path) -> int:
    """How many of `scale.REGIONS` the kept deployment holds (their stores, in order)."""
    held = 0
    for prefix, _, _ in REGIONS:
        if not (folder / f"{prefix}.db").is_file():
            break
        held += 1
    return held


def one_turn(folder: Path, workers: int, steps: list[str]) -> dict[str, float]:
    """The steps on the kept deployment, on `workers` processes (1: this process)."""
    deployment = deployment_in(folder, regions_in(folder))
    out: dict[str, float] = {}
    with executor_of(workers) as executor:
        directory = composition.open_directory(deployment)
        runs = replays(deployment, directory, composition.directory_key(), executor)
        for step in steps:
            out[step], result = timed(runs[step])
            if step.startswith("audit") and not result["clean"]:
                raise SystemExit(f"the audit found problems at {workers} worker(s)")
            say(workers, step, out[step])
        directory.engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="A deployment `scale.py --keep` left "
                        "(its w<N> folder).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", nargs="+", choices=REPLAYS, default=list(REPLAYS))
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    if regions_in(args.folder) == 0:
        parser.error(f"{args.folder} holds no region store of scale.py")
    steps = [s for s in REPLAYS if s in args.steps]
    made: dict[int, list[dict[str, float]]] = {1: [], args.workers: []}
    for _ in range(max(1, args.rounds)):
        for workers in made:
            made[workers].append(one_turn(args.folder, workers, steps))
    print()
    for name, value in machine("dask", "distributed"):
        print(f"{name:>14}: {value}")
    print()
    n = args.workers
    print(f"| step | 1 worker (s, median) | {n} workers (s, median) | speedup | efficiency "
          "(median) | efficiency, each round |\n|---|---|---|---|---|---|")
    for step in steps:
        one = statistics.median(r[step] for r in made[1])
        many = statistics.median(r[step] for r in made[n])
        each: list[Any] = [a[step] / b[step] / n for a, b in zip(made[1], made[n],
                                                                 strict=True)]
        print(f"| {step} | {one:.1f} | {many:.1f} | {one / many:.2f} | "
              f"{statistics.median(each):.2f} | {', '.join(f'{e:.2f}' for e in each)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
