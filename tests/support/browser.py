"""A real browser on a real server for the console's tests: the app served by uvicorn on a
free port in a thread of this process, and Debian's Chromium driven by Playwright.

Without Chromium the tests are skipped with the reason; with BENEFITPOOL_REQUIRE_BROWSER=1
(as in `.ci/run`, which installs it) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

REQUIRE_BROWSER = "BENEFITPOOL_REQUIRE_BROWSER"
CHROMIUM = os.environ.get("BENEFITPOOL_CHROMIUM", "/usr/bin/chromium")


def chromium_or_skip() -> str:
    """The Chromium to drive, or the test is skipped (failed in CI) saying why."""
    found = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if found:
        try:
            import playwright  # noqa: F401
        except ImportError:
            found = None
    if found is None:
        message = (f"no browser: Chromium ({CHROMIUM}, apt-get install chromium) and "
                   "Playwright (pip install -e '.[dev]') are needed for the console's tests")
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(f"{message} ({REQUIRE_BROWSER}=1: the browser tests must run)",
                        pytrace=False)
        pytest.skip(message)
    return found


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on 127.0.0.1 at a free port until the block ends; its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # log_config=None: uvicorn leaves this process's logging as it found it (other tests
    # read the loggers)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (a fresh context per `new_context()`)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()
