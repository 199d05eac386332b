"""Ingest across a deployment: a command file split by region and each region's share applied
to its own ledger, the regions in parallel (ADR 56).

The file is routed in order (`adapters.application.routing`), its lines parsed into route
keys on the executor's workers a few chunks ahead of the router (ADRs 99, 100); each region's
lines are written to a file of their own at their original line numbers (other lines left
blank), so each region's ingest is the ordinary resumable one (ADR 45) and its results carry
the original line numbers. The results are merged back in line order. Enrollments reserved in the
directory while routing are confirmed or released by their results.
"""

from __future__ import annotations

import gc
import heapq
import io
import json
import pickle
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import IO, Any

import orjson
from attrs import frozen

from adapters.application.ingest_run import file_digest
from adapters.application.routing import Route, RouteKey, Router, route_keys
from adapters.stores.deployment_files import Deployment
from adapters.stores.directory import Directory
from adapters.usecases.ingest import BATCH_SIZE, IngestStopped

ROUTE_CHUNK = 20_000
#: Chunks parsed ahead of the router when an executor is given.
PARSED_AHEAD = 4


@frozen
class RegionJob:
    """One region's share of a file, to be ingested into its store (picklable: it crosses
    to a Dask worker)."""

    prefix: str
    url: str
    lines: str
    results: str
    policies: str | None
    batch_size: int = BATCH_SIZE


@frozen
class RegionDone:
    """How one region's ingest ended: `stopped` is None when it reached the end."""

    prefix: str
    stopped: str | None = None
    last_line: int = 0
    message: str = ""


RunRegion = Callable[[RegionJob], RegionDone]


def ingest_across(deployment: Deployment, directory: Directory, key: bytes, path: Path,
                  results_to: IO[str], work: Path, run_region: RunRegion, now: int,
                  executor: Executor | None = None, policies: Path | None = None,
                  batch_size: int = BATCH_SIZE, enrolled_in: Any = None,
                  progress: Callable[[int], None] | None = None) -> Counter:
    """Route, apply each region's share (in parallel on `executor`), merge the results in
    line order into `results_to`; returns the counts by (status, reason). Raises
    IngestStopped (naming the regions) when a region's ingest stopped early: running the
    same command again continues every region where it stopped."""
    folder = work / file_digest(path)[:16]
    folder.mkdir(parents=True, exist_ok=True)
    router = Router(deployment, directory, key, now, enrolled_in)
    refused, reserved, used = _split(router, path, folder, deployment, progress, executor)
    jobs = [RegionJob(r.prefix, r.url, str(folder / f"{r.prefix}.jsonl"),
                      str(folder / f"{r.prefix}.results.jsonl"),
                      str(policies) if policies else None, batch_size)
            for r in deployment.regions if r.prefix in used]
    # the largest share first: two workers finish four unequal regions closer together
    jobs.sort(key=lambda j: Path(j.lines).stat().st_size, reverse=True)
    done = list(executor.map(run_region, jobs)) if executor is not None and len(jobs) > 1 \
        else [run_region(job) for job in jobs]
    counts: Counter = Counter()
    confirmed, released = [], []
    own = ((r["line"], r["status"], r["reason"], json.dumps(r, ensure_ascii=False) + "\n")
           for r in refused)
    for line, status, reason, text in heapq.merge(
            own, *(_results(Path(j.results)) for j in jobs), key=lambda r: r[0]):
        counts[(status, reason)] += 1
        results_to.write(text)  # each region's result line as its ingest wrote it
        held = reserved.pop(line, None)
        if held is not None:
            (confirmed if status == "ok" else released).append(held)
    directory.settle(confirmed, released)
    stopped = [d for d in done if d.stopped is not None]
    if stopped:
        kind = "store_failed" if any(d.stopped == "store_failed" for d in stopped) \
            else stopped[0].stopped
        raise IngestStopped(kind or "store_failed", min(d.last_line for d in stopped), "; ".join(
            f"region {d.prefix}: {d.message}" for d in stopped))
    return counts


def _split(router: Router, path: Path, folder: Path, deployment: Deployment,
           progress: Callable[[int], None] | None, executor: Executor | None = None
           ) -> tuple[list[dict[str, Any]], dict[int, tuple[str, int, str]], set[str]]:
    """Write each region's lines to its file; returns the router's own answers, the lines
    whose enrollment reserved a person-year, and the regions that got lines. What is alive
    after each chunk is frozen out of the cyclic collector's scans until the end (ADR 105):
    a command's process of its own, as the ingest's batches are."""
    refused: list[dict[str, Any]] = []
    reserved: dict[int, tuple[str, int, str]] = {}
    used: set[str] = set()
    sinks = {r.prefix: (folder / f"{r.prefix}.jsonl").open("wb") for r in deployment.regions}
    try:
        for chunk, keys in _keyed(path, executor):
            routes = {r.line: r for r in router.route_keyed(keys)}
            targets = []
            for n, _ in chunk:
                route: Route | None = routes.get(n)
                target = route.region if route is not None else None
                targets.append(target)
                if route is None:
                    continue
                if target is None and route.result is not None:
                    refused.append(route.result)
                else:
                    used.add(target or "")
                    if route.reserved is not None:
                        reserved[n] = (*route.reserved, target or "")
            lines = [raw if raw.endswith(b"\n") else raw + b"\n" for _, raw in chunk]
            for prefix, sink in sinks.items():  # a region's file: its lines, the others blank
                sink.write(b"".join([line if target == prefix else b"\n"
                                     for line, target in zip(lines, targets, strict=True)]))
            if progress:
                progress(len(chunk))
            gc.freeze()  # the router's growing maps leave the cyclic collector's scans
    finally:
        gc.unfreeze()
        for sink in sinks.values():
            sink.close()
    return refused, reserved, used


def _keyed(path: Path, executor: Executor | None
           ) -> Iterator[tuple[list[tuple[int, bytes]], list[tuple[int, RouteKey]]]]:
    """Each chunk of the file with its lines' route keys, in order; with an executor the
    chunks are parsed on its workers (each reading its chunk from the file by offset), up to
    PARSED_AHEAD chunks ahead of the router."""
    if executor is None:
        for chunk, _ in _chunks(path):
            yield chunk, route_keys(_texts(chunk))
        return
    ahead: deque[tuple[list[tuple[int, bytes]], Future]] = deque()
    for chunk, (start, end) in _chunks(path):
        ahead.append((chunk, executor.submit(keys_of_range, str(path), start, end,
                                             chunk[0][0])))
        if len(ahead) >= PARSED_AHEAD:
            done, keys = ahead.popleft()
            yield done, pickle.loads(keys.result())
    while ahead:
        done, keys = ahead.popleft()
        yield done, pickle.loads(keys.result())


def keys_of_range(path: str, start: int, end: int, first: int) -> bytes:
    """The route keys of the lines between two byte offsets of a file, the first numbered
    `first`, pickled (run on a worker: it reads the file itself; one bytes object crosses
    back much faster than Dask's serialization of twenty thousand tuples)."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    keys = route_keys(_texts(list(enumerate(io.BytesIO(data), start=first))))
    return pickle.dumps(keys, protocol=pickle.HIGHEST_PROTOCOL)


def _texts(chunk: list[tuple[int, bytes]]) -> list[tuple[int, str]]:
    return [(n, _text(raw)) for n, raw in chunk if raw.strip()]


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError:
        return "\x00not-utf-8"


def _chunks(path: Path) -> Iterator[tuple[list[tuple[int, bytes]], tuple[int, int]]]:
    """The file's lines in chunks of ROUTE_CHUNK, numbered, each with its byte range."""
    chunk: list[tuple[int, bytes]] = []
    start = offset = 0
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            chunk.append((n, raw))
            offset += len(raw)
            if len(chunk) >= ROUTE_CHUNK:
                yield chunk, (start, offset)
                chunk, start = [], offset
    if chunk:
        yield chunk, (start, offset)


def _results(path: Path) -> Iterator[tuple[int, str, str | None, str]]:
    """A region's results as (line, status, reason, the result's text as written)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for text in f:
            if text.strip():
                result = orjson.loads(text)
                yield (result["line"], result["status"], result.get("reason"),
                       text if text.endswith("\n") else text + "\n")
