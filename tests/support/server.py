"""`benefitpool serve` as a user starts it: a real server process on a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


@contextmanager
def served(cwd: Path, store_args: Sequence[str], env: dict[str, str]
           ) -> Iterator[tuple[str, Any]]:
    """`benefitpool serve STORE_ARGS` on a free port of this machine, until the block ends: its
    base URL and its process (its output piped)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "adapters.cli", "serve", "--port",
                               str(port), *store_args], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, server
    finally:
        if server.poll() is None:
            server.terminate()
            server.communicate(timeout=30)
