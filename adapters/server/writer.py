"""Group commit: one writer thread per process decides the commands of concurrent requests in
arrival order and saves each group of them in one transaction (ADR 22)."""

from __future__ import annotations

import gc
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from adapters.application.ledger import Ledger
from adapters.application.lines import Prepared

MAX_GROUP = 256
FREEZE_EVERY = 2_000  # commands between two gc.freeze() in a long-running server (ADR 23)
log = logging.getLogger("benefitpool.writer")


def freeze_long_lived() -> None:
    """Collect the young generations, then exempt every object alive from later full
    collections (gc.freeze): a long-running ledger's aggregate cache only grows, and rescanning
    it made full collections of 60-180 ms, the server's slowest answers (ADR 23)."""
    gc.collect(1)
    gc.freeze()


class _Stop:
    """Sentinel that ends the writer thread."""


class GroupWriter:
    """Runs commands on a ledger from one thread, batching whatever queued up meanwhile.

    Each command is decided against the state its predecessors in the group left, exactly as
    if they ran one by one; the group is saved atomically (rejections stay results, a conflict
    with another process redoes the group from the store). A caller's answer is given only
    after its group committed. `check`, when given, runs on the writer thread just before the
    group is decided (it may read the store) and may raise to keep its command out.
    """

    def __init__(self, ledger: Ledger, max_group: int = MAX_GROUP,
                 freeze_every: int | None = None) -> None:
        self.ledger = ledger
        self.max_group = max_group
        #: Every this many commands, move what is alive out of the cyclic collector's reach
        #: (ADR 23); None leaves the collector as it is.
        self.freeze_every = freeze_every
        self.groups = 0
        self.commands = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def submit(self, command: dict[str, Any] | Prepared,
               check: Callable[[], None] | None = None) -> dict[str, Any]:
        """Apply one decoded (or `lines.prepare`d) command object; blocks until its group is
        saved."""
        return self.submit_future(command, check).result()

    def submit_future(self, command: dict[str, Any] | Prepared,
                      check: Callable[[], None] | None = None) -> Future[dict[str, Any]]:
        """Queue one decoded command object; the future holds its result once saved."""
        future: Future[dict[str, Any]] = Future()
        self._queue.put((command, check, future))
        return future

    def call(self, work: Callable[[], Any]) -> Any:
        """Run `work` on the writer thread, between groups (for reads of the ledger's state)."""
        future: Future[Any] = Future()
        self._queue.put((None, work, future))
        return future.result()

    def close(self) -> None:
        self._queue.put(_Stop)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _Stop:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _Stop:
                    self._queue.put(_Stop)
                    break
                group.append(item)
            self._apply(group)

    def _apply(self, group: list[tuple[Any, Any, Future]]) -> None:
        commands = [command for command, _, _ in group if command is not None]
        if len(commands) > 1:
            try:
                self.ledger.warm(commands)
            except Exception:  # only a shortcut: every read falls back to the store
                log.warning("loading a group's persons at once failed", exc_info=True)
        runnable = []
        for command, check, future in group:
            try:
                if command is None:  # a `call`
                    future.set_result(check())
                    continue
                if check is not None:
                    check()
            except BaseException as e:  # the caller's thread re-raises it
                future.set_exception(e)
                continue
            runnable.append((command, future))
        if not runnable:
            return
        try:
            results = self.ledger.execute_many([command for command, _ in runnable])
        except BaseException as e:  # e.g. the store refuses every write: tell every caller
            for _, future in runnable:
                future.set_exception(e)
            return
        self.groups += 1
        self.commands += len(runnable)
        for (_, future), result in zip(runnable, results, strict=True):
            future.set_result(result)
        every = self.freeze_every
        if every and self.commands // every != (self.commands - len(runnable)) // every:
            freeze_long_lived()
