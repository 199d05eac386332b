"""The ledger process: one process owns the ledger and its group writer; the server's HTTP
workers hand it their commands over a Unix socket and await the answers (ADR 24).

Frames are a 4-byte big-endian length and a pickle. The socket lives in a folder only its
user can open, so only processes of that user can connect. Requests are
`(id, "command", (command as the worker parsed it, token region prefix))` and
`(id, "stats", None)`: a command is parsed once, by the worker that received it.
Replies are `(id, reply)`, where the reply is one of:

    ("ok", result object)            the command's result, after its group committed
    ("forbidden", region)            the command acts outside the token's region
    ("refused", reason, message)     the store refuses every write (e.g. another audit key)
    ("failed", message)              the store failed; nothing of the group was recorded
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import logging.config
import os
import pickle
import socket
import struct
import tempfile
import threading
import weakref
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from adapters import composition
from adapters.application.access import OutOfRegion, check_region
from adapters.application.ledger import Ledger
from adapters.application.lines import Prepared
from adapters.server.logs import log_config
from adapters.server.writer import FREEZE_EVERY, GroupWriter, freeze_long_lived
from domain.errors import LedgerError, Rejected

log = logging.getLogger("benefitpool.ledger")

_LENGTH = struct.Struct(">I")
OK, FORBIDDEN, REFUSED, FAILED = "ok", "forbidden", "refused", "failed"


class LedgerUnreachable(LedgerError):
    """The ledger process does not answer: nothing sent since it stopped was recorded."""


def frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def socket_folder() -> Path:
    """A new folder for the ledger socket, readable by its user only."""
    return Path(tempfile.mkdtemp(prefix="benefitpool-ledger-"))


# --- the ledger process's side ------------------------------------------------------------------


class LedgerServer:
    """Serves one ledger to the connections of a Unix socket, through one group writer."""

    def __init__(self, ledger: Ledger, address: str, freeze_every: int | None = None) -> None:
        self.ledger = ledger
        self.writer = GroupWriter(ledger, freeze_every=freeze_every)
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):  # left by a ledger process that died
            os.unlink(address)
        self._socket.bind(address)
        os.chmod(address, 0o600)
        self._socket.listen(128)
        self._closed = threading.Event()
        self._closing = threading.Lock()
        #: How many ledger processes died before this one (told by the supervisor).
        self.restarts = 0

    def serve_forever(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                if self._closed.is_set():
                    return
                raise
            threading.Thread(target=self._serve, args=(conn,), name="ledger-connection",
                             daemon=True).start()

    def close(self) -> None:
        """Stop accepting, let the writer finish what it holds, close the store (once)."""
        with self._closing:
            if self._closed.is_set():
                return
            self._closed.set()
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
            self._socket.close()
            self.writer.close()
            self.ledger.app.close()

    def _serve(self, conn: socket.socket) -> None:
        send_lock = threading.Lock()

        def reply(request_id: int, answer: tuple[Any, ...]) -> None:
            data = frame((request_id, answer))
            try:
                with send_lock:
                    conn.sendall(data)
            except OSError:  # the worker went away; its answers have nowhere to go
                log.info("a server worker closed its connection before its answer")

        with conn, conn.makefile("rb") as stream:
            while header := stream.read(_LENGTH.size):
                size = _LENGTH.unpack(header)[0] if len(header) == _LENGTH.size else -1
                payload = stream.read(size) if size >= 0 else b""
                try:
                    if len(payload) != size:
                        raise ValueError("the connection ended inside a frame")
                    request_id, kind, body = pickle.loads(payload)
                except Exception as e:  # not a frame a worker sends: drop this connection
                    log.warning("dropped a connection that sent a malformed frame (%s)",
                                type(e).__name__)
                    return
                if kind == "command":
                    self._command(request_id, *body, reply=reply)
                elif kind == "stats":
                    reply(request_id, (OK, self.stats()))
                else:
                    reply(request_id, (FAILED, f"unknown request {kind!r}"))

    def _command(self, request_id: int, prepared: Prepared, scope: str | None,
                 reply: Any) -> None:
        def check() -> None:  # on the writer thread, as in a server process of its own
            if not isinstance(prepared.parsed, Exception):
                check_region(self.ledger, prepared.parsed[1], scope)

        def answer(done: Future[dict[str, Any]]) -> None:
            reply(request_id, outcome(done))

        self.writer.submit_future(prepared, check).add_done_callback(answer)

    def stats(self) -> dict[str, Any]:
        return {"groups": self.writer.groups, "commands": self.writer.commands,
                "frozen_objects": gc.get_freeze_count(), "restarts": self.restarts}


def outcome(done: Future[dict[str, Any]]) -> tuple[Any, ...]:
    """A finished command as a reply."""
    error = done.exception()
    if error is None:
        return (OK, done.result())
    if isinstance(error, OutOfRegion):
        return (FORBIDDEN, error.region)
    if isinstance(error, Rejected):
        return (REFUSED, error.reason, error.message)
    if isinstance(error, LedgerError):
        return (FAILED, str(error))
    log.error("a command failed in the ledger process", exc_info=error)
    return (FAILED, f"the ledger process failed ({type(error).__name__}); nothing of this "
                    "command's group was recorded")


def run_ledger_process(url: str, policies: str | None, address: str, ready: Any,
                       lifeline: Any, restarts: int = 0) -> None:
    """The ledger process's main: open the store, listen, tell the parent, serve until the
    parent stops or goes away (its end of `lifeline` closes, however it ended). Its log lines
    go to standard error with ID numbers masked, as the server's do."""
    logging.config.dictConfig(log_config("info"))
    ledger = composition.open_ledger(
        url, composition.policy_book(Path(policies) if policies else None))
    server = LedgerServer(ledger, address, freeze_every=FREEZE_EVERY)
    server.restarts = restarts

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()
        server.close()

    threading.Thread(target=watch, name="ledger-lifeline", daemon=True).start()
    freeze_long_lived()
    ready.set()
    try:
        server.serve_forever()
    finally:
        server.close()


# --- a server worker's side ----------------------------------------------------------------------


class _Connection:
    """One event loop's connection to the ledger process and its unanswered requests."""

    def __init__(self, stream: asyncio.StreamWriter) -> None:
        self.stream = stream
        self.pending: dict[int, asyncio.Future[tuple[Any, ...]]] = {}


class LedgerClient:
    """A server worker's connection to the ledger process, shared by its requests: commands go
    out tagged with an id, answers come back in the order their groups commit. One connection
    per event loop (a server has one; a test client may start several)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._ids = itertools.count(1)
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection] = (
            weakref.WeakKeyDictionary())
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())

    async def apply(self, prepared: Prepared, scope: str | None) -> dict[str, Any]:
        """A parsed command's result from the ledger process, after its group committed;
        raises as the writer thread would (OutOfRegion, Rejected, LedgerError)."""
        answer = await self._call("command", (prepared, scope))
        if answer[0] == OK:
            return answer[1]
        if answer[0] == FORBIDDEN:
            raise OutOfRegion(answer[1])
        if answer[0] == REFUSED:
            raise Rejected(answer[1], answer[2])
        raise LedgerError(answer[1])

    async def stats(self) -> dict[str, Any]:
        answer = await self._call("stats", None)
        return answer[1]

    async def aclose(self) -> None:
        """Close this event loop's connection (its reader stops with it)."""
        connection = self._connections.pop(asyncio.get_running_loop(), None)
        if connection is not None:
            connection.stream.close()
            with contextlib.suppress(OSError):
                await connection.stream.wait_closed()

    async def _call(self, kind: str, body: Any) -> tuple[Any, ...]:
        connection = await self._connected()
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        connection.pending[request_id] = future
        try:
            connection.stream.write(frame((request_id, kind, body)))
        except (OSError, RuntimeError) as e:
            connection.pending.pop(request_id, None)
            raise LedgerUnreachable(f"the ledger process is unreachable ({e})") from None
        return await future

    async def _connected(self) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = self._connections.get(loop)
        if connection is not None and not connection.stream.is_closing():
            return connection
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            connection = self._connections.get(loop)
            if connection is None or connection.stream.is_closing():
                try:
                    reader, writer = await asyncio.open_unix_connection(self.address)
                except OSError as e:
                    raise LedgerUnreachable(
                        f"the ledger process is unreachable ({e.strerror or e})") from None
                connection = self._connections[loop] = _Connection(writer)
                loop.create_task(self._read(reader, connection))
            return connection

    @staticmethod
    async def _read(reader: asyncio.StreamReader, connection: _Connection) -> None:
        try:
            while True:
                header = await reader.readexactly(_LENGTH.size)
                payload = await reader.readexactly(_LENGTH.unpack(header)[0])
                request_id, answer = pickle.loads(payload)
                future = connection.pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            connection.stream.close()
            pending, connection.pending = connection.pending, {}
            for future in pending.values():
                if not future.done():
                    future.set_exception(LedgerUnreachable(
                        "the ledger process stopped before answering; this command may or "
                        "may not have been recorded: send it again with its command_id, and "
                        "it is answered as recorded, never applied twice"))
