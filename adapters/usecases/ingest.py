"""Ingest: a command file applied to the ledger, one result line per command line, resumable.

Each batch is saved together with the file's journal (its content's SHA-256, the last line
applied and the batch's results), so running the same file again answers the lines already
applied with their recorded results (`"duplicate": true`) and applies only the rest; a file
with other content is another file (ADR 45). One ingest of a file at a time per store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from adapters.application.ingest_run import Journal, file_digest
from adapters.application.ledger import Ledger
from adapters.stores.locks import StoreBusy, held
from adapters.stores.urls import store_failures
from domain.errors import LedgerError, cause_of

BATCH_SIZE = 1000


#: The UTF-8 byte order mark.
BOM = b"\xef\xbb\xbf"


class IngestStopped(LedgerError):
    """An ingest that stopped before its end: interrupted, or the store failed. Every line up
    to `last_line` is committed, nothing after it; the same command continues."""

    def __init__(self, kind: str, last_line: int, message: str) -> None:
        super().__init__(message)
        self.kind, self.last_line, self.message = kind, last_line, message


class IngestBusy(LedgerError):
    """Another process is ingesting the same file into the same store."""


def read_lines(path: Path) -> Iterator[str]:
    """Decode each line on its own, so one bad byte sequence spoils only its own line. A
    UTF-8 byte order mark (as Excel and Notepad write at the start of a file) is not part of
    the line, as the routed ingest of a deployment reads it too."""
    with path.open("rb") as f:
        for raw in f:
            try:
                yield raw.decode("utf-8-sig" if raw.startswith(BOM) else "utf-8")
            except UnicodeDecodeError:
                yield "\x00not-utf-8"


def count_lines(path: Path) -> int:
    """How many lines a command file has (for a progress bar)."""
    with path.open("rb") as f:
        return sum(1 for _ in f)


def ingest_file(ledger: Ledger, path: Path, results_to: IO[str], batch_size: int = BATCH_SIZE,
                progress: Callable[[int], None] | None = None) -> Counter:
    """Apply a command file in batches and write each result as a JSON line; returns the
    counts by (status, reason). `progress` is told how many lines each batch covered.
    Raises IngestBusy, or IngestStopped (interrupted, or the store failed)."""
    digest = file_digest(path)
    try:
        with held(ledger.app, f"ingest-{digest[:16]}"):
            journal = Journal(ledger.app, digest, path.name)  # read under the lock
            return _ingest(ledger, journal, path, results_to, batch_size, progress)
    except StoreBusy:
        raise IngestBusy(f"another process is ingesting {path.name} into this store; wait "
                         "for it to finish (or stop it), then run the same command again "
                         "to continue") from None


def _ingest(ledger: Ledger, journal: Journal, path: Path, results_to: IO[str],
            batch_size: int, progress: Callable[[int], None] | None) -> Counter:
    counts: Counter = Counter()

    def write(result: dict[str, Any]) -> None:
        counts[(result["status"], result["reason"])] += 1
        results_to.write(orjson.dumps(result, option=orjson.OPT_APPEND_NEWLINE).decode())

    resumed = journal.applied_through
    try:
        for result in journal.recorded():
            write({**result, "duplicate": True})
        if progress and resumed:
            progress(resumed)
        for result in ledger.execute_lines(read_lines(path), batch_size=batch_size,
                                           freeze_gc=True, progress=progress,
                                           journal=journal, skip_through=resumed):
            write(result)
    except KeyboardInterrupt:
        raise IngestStopped("interrupted", journal.applied_through,
                            f"interrupted after line {journal.applied_through}: run the same "
                            "command again to continue") from None
    except store_failures() as e:
        raise IngestStopped("store_failed", journal.applied_through,
                            f"the store failed after line {journal.applied_through} was "
                            f"committed ({cause_of(e)}); nothing after "
                            "it was recorded: run the same command again to continue") from None
    return counts

