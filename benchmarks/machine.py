"""What machine a benchmark ran on, printed beside its figures."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any


def machine(*packages: str) -> list[tuple[str, str]]:
    """Platform, CPUs, Python, SQLite and the versions of the named packages."""
    return [
        ("platform", platform.platform()),
        ("processor", platform.processor() or platform.machine()),
        ("cpu count", str(os.cpu_count())),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("sqlite", sqlite3.sqlite_version),
        *((name, version(name)) for name in packages),
    ]


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Every thread of this process, and those it starts, on one CPU for the block: a
    one-worker baseline that is one core, even where a library (DuckDB, Arrow) would run a
    pool of threads on every core (where the platform cannot pin, the block runs unpinned)."""
    pin = getattr(os, "sched_setaffinity", None)
    if pin is None:
        yield
        return
    before = os.sched_getaffinity(0)
    one = {min(before)}
    threads = [int(t) for t in os.listdir("/proc/self/task")]
    for tid in threads:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            pin(tid, one)
    try:
        yield
    finally:
        for tid in [int(t) for t in os.listdir("/proc/self/task")]:
            with contextlib.suppress(OSError):
                pin(tid, before)


def _heap_work(entries: int, kept: bool) -> float:
    """Pure Python building `entries` small records: all kept alive (a heap that grows to
    about 350 bytes an entry, as a replay's in-memory ledger grows), or each dropped at
    once (the same work in a heap that stays small). Returns its seconds."""
    start = time.perf_counter()
    held: dict[int, dict[str, Any]] = {}
    total = 0
    for i in range(entries):
        record = {"a": i, "b": str(i), "c": [i, i + 1]}
        if kept:
            held[i] = record
        total += record["a"] + len(record["b"])
    for record in held.values():
        total += record["a"]
    return time.perf_counter() - start


def _timed_child(entries: int, kept: bool, start: Any, out: Any) -> None:
    start.wait()
    out.send(_heap_work(entries, kept))


def _together(processes: int, entries: int, kept: bool) -> list[float]:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes)
    pipes = [context.Pipe(duplex=False) for _ in range(processes)]
    children = [context.Process(target=_timed_child, args=(entries, kept, start, send))
                for _, send in pipes]
    for child in children:
        child.start()
    seconds = [receive.recv() for receive, _ in pipes]
    for child in children:
        child.join()
    return seconds


def own_efficiency(processes: int = 2, entries: int = 1_500_000) -> dict[str, float]:
    """This machine's own parallel efficiency at `processes` for pure Python with nothing
    shared, no I/O and no scheduler: the same work alone, then in `processes` processes at
    once; the efficiency is alone ÷ the slowest together. Measured for a heap that grows
    (the replays' kind of work) and for one that stays small. No step of a benchmark can
    be expected to scale better than the first on the same machine."""
    found = {}
    for name, kept, n in (("growing heap", True, entries), ("small heap", False, 6 * entries)):
        alone = _together(1, n, kept)[0]
        slowest = max(_together(processes, n, kept))
        found[name] = alone / slowest
    return found


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, stolen) CPU ticks of the whole machine so far, from Linux's /proc/stat (None
    elsewhere): a virtual machine's stolen time is time its host gave to someone else."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 8:
        return None
    return fields[0] + fields[1] + fields[2], fields[7]


def stolen_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float:
    """The share of the CPU time used between two `cpu_ticks` that the host stole."""
    if before is None or after is None:
        return 0.0
    busy, stolen = after[0] - before[0], after[1] - before[1]
    return stolen / (busy + stolen) if busy + stolen else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="This machine, and its own efficiency at "
                                                 "N processes of pure Python.")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    for label, value in machine():
        print(f"{label:>14}: {value}")
    rounds = []
    for n in range(1, args.rounds + 1):
        ticks = cpu_ticks()
        found = own_efficiency(args.processes)
        rounds.append(found)
        print(f"round {n}: " + ", ".join(f"{k} {v:.2f}" for k, v in found.items())
              + f" (host steal {stolen_share(ticks, cpu_ticks()):.0%})", flush=True)
    for kind in rounds[0]:
        print(f"own efficiency at {args.processes} processes, {kind}: median "
              f"{statistics.median(r[kind] for r in rounds):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
