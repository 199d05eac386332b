"""The cyclic garbage collector run once per batch of a long one-off run (ADRs 111, 112).

A long run (an ingest, a views rebuild, a replay) keeps growing state: aggregates, the
views' rows, a replayed ledger. Left on its own, Python's collector triggers every few
hundred allocations and, each time an older generation fills, rescans that growing state.
`PerBatch` turns the automatic collector off for the run, collects the batch's young
objects once after each batch and moves everything still alive out of the collector's
reach (`gc.freeze`); at the end it brings the frozen objects back and turns the collector
on again if it was on. Meant for one-off processes (a CLI command, a Dask task), never
for a long-lived server, which freezes its own objects (ADR 40).
"""

from __future__ import annotations

import gc
from types import TracebackType


class PerBatch:
    """A context: `after_batch()` collects and freezes once; without `on`, nothing at all."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self._was_enabled = True

    def __enter__(self) -> PerBatch:
        if self.on:
            self._was_enabled = gc.isenabled()
            gc.disable()
        return self

    def after_batch(self) -> None:
        if self.on:
            gc.collect(1)  # the batch's own cyclic garbage, once
            gc.freeze()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.on:
            gc.unfreeze()
            if self._was_enabled:
                gc.enable()
