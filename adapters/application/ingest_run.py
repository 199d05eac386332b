"""The journal of a command file's ingest: which lines are applied and with which results,
written in the same transaction as each batch, so that running the same file again answers
the applied lines from it and applies only the rest (ADR 45).

An ingest run is an aggregate of its own, one per file content (SHA-256), whose events are
operational records, not facts of the ledger: replays, audits and views pass them by.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from adapters.stores.events import LedgerApplication, ResultsBlob

_NAMESPACE = uuid5(NAMESPACE_URL, "https://benefitpool.example/ingest")
_READ = 1 << 20


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_READ):
            digest.update(chunk)
    return digest.hexdigest()


def ingest_run_id(digest: str) -> UUID:
    return uuid5(_NAMESPACE, digest)


class IngestRun(Aggregate):
    """One command file's ingest into this store, across however many runs it took."""

    class Started(Aggregate.Created):
        digest: str
        name: str

    class BatchApplied(Aggregate.Event):
        first_line: int
        last_line: int
        results: ResultsBlob

        def apply(self, run: IngestRun) -> None:
            run.applied_through = self.last_line

    def __init__(self, digest: str, name: str) -> None:
        self.digest = digest
        self.name = name
        self.applied_through = 0

    @classmethod
    def start(cls, digest: str, name: str) -> IngestRun:
        return cls._create(cls.Started, id=ingest_run_id(digest), digest=digest, name=name)

    def applied(self, first_line: int, last_line: int, results: list[dict[str, Any]]) -> None:
        self.trigger_event(self.BatchApplied, first_line=first_line, last_line=last_line,
                           results=ResultsBlob(tuple(results)))


#: The journal's events: operational records that replays and audits pass by.
OPERATIONAL: tuple[type, ...] = (IngestRun.Started, IngestRun.BatchApplied)


class Journal:
    """The ingest run of one file on one store: the events that record a batch (to save with
    the batch), the line up to which the file is applied, and the results recorded so far."""

    def __init__(self, store: LedgerApplication, digest: str, name: str) -> None:
        self.store = store
        self.run: IngestRun | None = store.get_or_none(ingest_run_id(digest))
        self.digest, self.name = digest, name
        self._next: IngestRun | None = None

    @property
    def applied_through(self) -> int:
        """The last line of the file whose batch is committed (0: none)."""
        return self.run.applied_through if self.run is not None else 0

    def pending(self, results: list[dict[str, Any]]) -> list[Any]:
        """The events recording these results (of lines in order), to be saved with their
        batch; the journal moves on only once `committed` is called."""
        run = (copy.deepcopy(self.run) if self.run is not None
               else IngestRun.start(self.digest, self.name))
        run.applied(results[0]["line"], results[-1]["line"], results)
        self._next = run
        return run.collect_events()

    def committed(self) -> None:
        self.run, self._next = self._next, None

    def recorded(self) -> Iterator[dict[str, Any]]:
        """The results recorded by earlier runs, in line order."""
        if self.run is None:
            return
        for event in self.store.events.get(self.run.id):
            if isinstance(event, IngestRun.BatchApplied):
                yield from event.results.results
