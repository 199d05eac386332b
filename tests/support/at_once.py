"""Several processes doing one thing at the same moment (forked, released by one barrier), as
a deployment's region workers or a server's processes open a new store together."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any


def _when_all_are_ready(action: Callable[[], Any], start: Any, answers: Any) -> None:
    start.wait()
    try:
        action()
        answers.put("done")
    except Exception as e:  # noqa: BLE001 - the answer the test reads
        answers.put(f"{type(e).__name__}: {e}")


def at_once(action: Callable[[], Any], processes: int = 8) -> list[str]:
    """Run `action` in `processes` forked processes released together; each one's answer:
    "done", or its exception's class and message."""
    fork = multiprocessing.get_context("fork")
    start, answers = fork.Barrier(processes), fork.Queue()
    started = [fork.Process(target=_when_all_are_ready, args=(action, start, answers))
               for _ in range(processes)]
    for process in started:
        process.start()
    said = [answers.get(timeout=60) for _ in started]
    for process in started:
        process.join()
    return said
