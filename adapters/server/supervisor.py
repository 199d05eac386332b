"""The ledger process's supervisor: starts it for a server, restarts it when it dies (a few
times, waiting longer each time), and stops it (ADR 48). While it is down, commands answer 503
and are safe to send again under their `command_id`."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import threading
from typing import Any

from adapters.server.ledger_process import LedgerUnreachable, run_ledger_process, socket_folder

log = logging.getLogger("benefitpool.ledger")

#: Restarts allowed in the server's life, and the first wait before one (doubled each time,
#: at most MAX_WAIT seconds).
MAX_RESTARTS = 5
BACKOFF = 0.5
MAX_WAIT = 30.0


class LedgerProcess:
    """Starts the ledger process for a server, restarts it when it dies, and stops it (a
    context manager). `restarts` counts the restarts so far."""

    def __init__(self, url: str, policies: str | None, timeout: float = 60.0,
                 max_restarts: int = MAX_RESTARTS, backoff: float = BACKOFF) -> None:
        self.url, self.policies, self.timeout = url, policies, timeout
        self.max_restarts, self.backoff = max_restarts, backoff
        self.folder = socket_folder()
        self.address = str(self.folder / "ledger.sock")
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")
        self._closing = threading.Event()
        self._lock = threading.Lock()
        try:
            self._start()
        except LedgerUnreachable:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self._watcher = threading.Thread(target=self._watch, name="ledger-supervisor",
                                         daemon=True)
        self._watcher.start()

    def _start(self) -> None:
        ready = self._context.Event()
        lifeline, theirs = self._context.Pipe()
        process = self._context.Process(
            target=run_ledger_process, name="benefitpool-ledger",
            args=(self.url, self.policies, self.address, ready, theirs, self.restarts),
            daemon=True)
        process.start()
        theirs.close()  # only the child holds it now: it sees EOF when this process ends
        self.process, self._lifeline = process, lifeline
        waited = 0.0
        while not ready.wait(0.1):
            waited += 0.1
            if not process.is_alive() or waited >= self.timeout:
                self._stop(process, lifeline)
                raise LedgerUnreachable("the ledger process did not start (see its error "
                                        "above)")

    def _watch(self) -> None:
        """Restart the ledger process when it ends without being asked to."""
        while not self._closing.is_set():
            self.process.join(timeout=0.2)
            if self._closing.is_set() or self.process.is_alive():
                continue
            if self.restarts >= self.max_restarts:
                log.error("the ledger process ended (exit code %s) after %d restarts; not "
                          "restarting it again: commands answer 503 until the server is "
                          "restarted", self.process.exitcode, self.restarts)
                return
            wait = min(MAX_WAIT, self.backoff * 2 ** self.restarts)
            log.warning("the ledger process ended (exit code %s); restarting it in %.1f s",
                        self.process.exitcode, wait)
            if self._closing.wait(wait):
                return
            with self._lock:
                if self._closing.is_set():
                    return
                self.restarts += 1
                try:
                    self._start()
                except LedgerUnreachable:
                    log.error("the ledger process did not start again")

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            self._stop(self.process, self._lifeline)
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _stop(process: multiprocessing.process.BaseProcess, lifeline: Any) -> None:
        lifeline.close()  # the ledger process finishes its group and stops
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()
            process.join(timeout=30)

    def __enter__(self) -> LedgerProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


