"""Ingest: a command file applied to the ledger, one result line per command line."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from adapters.application.ledger import Ledger

BATCH_SIZE = 1000


def read_lines(path: Path) -> Iterator[str]:
    """Decode each line on its own, so one bad byte sequence spoils only its own line."""
    with path.open("rb") as f:
        for raw in f:
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                yield "\x00not-utf-8"


def count_lines(path: Path) -> int:
    """How many lines a command file has (for a progress bar)."""
    with path.open("rb") as f:
        return sum(1 for _ in f)


def ingest_file(ledger: Ledger, path: Path, results_to: IO[str], batch_size: int = BATCH_SIZE,
                progress: Callable[[int], None] | None = None) -> Counter:
    """Apply a command file in batches and write each result as a JSON line; returns the
    counts by (status, reason). `progress` is told how many lines each batch applied."""
    counts: Counter = Counter()
    for result in ledger.execute_lines(read_lines(path), batch_size=batch_size, freeze_gc=True,
                                       progress=progress):
        counts[(result["status"], result["reason"])] += 1
        results_to.write(json.dumps(result, ensure_ascii=False) + "\n")
    return counts
