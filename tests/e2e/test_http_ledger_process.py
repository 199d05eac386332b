"""Server workers that hand their commands to one ledger process (ADR 24): the same answers
as a server applying them itself, one writer for every worker, region checks on the ledger's
state, and clear errors when the ledger process is gone."""

from __future__ import annotations

import os
import signal
import socket as sockets
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_http import Api, with_family, without_line

from adapters.application import lines
from adapters.composition import open_ledger
from adapters.server.ledger_process import LedgerServer, frame
from adapters.server.supervisor import LedgerProcess
from domain.ids import household_id
from domain.money import Money
from tests.support.builders import HEAD, WIFE, claim, family

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ledger_process(store_url: str) -> Iterator[LedgerProcess]:
    with LedgerProcess(store_url, None) as process:
        yield process


def history() -> list[dict]:
    return [*family(), claim("P-1", WIFE, "300.00"), claim("P-2", HEAD, "900.00"),
            claim("P-2", HEAD, "900.00"),  # a re-send: the recorded decision again
            claim("P-3", WIFE, "nonsense")]


def test_commands_through_the_ledger_process_get_the_answers_of_a_server_applying_them(
        new_store, book) -> None:
    alone = Api(new_store("alone"), book)
    with LedgerProcess(new_store("shared"), None) as process:
        worker = Api(process.url, book, process.address)
        try:
            expected = [alone.post("/commands", c) for c in history()]
            got = [worker.post("/commands", c) for c in history()]
        finally:
            worker.close()
    alone.close()
    assert [r.status_code for r in got] == [r.status_code for r in expected]
    assert [without_line(r.json()) for r in got] == [without_line(r.json()) for r in expected]


def test_a_payment_outside_the_tokens_region_is_refused_by_the_ledger_process(
        store_url: str, book, ledger_process: LedgerProcess) -> None:
    api = with_family(Api(store_url, book, ledger_process.address))
    try:
        pay = {"op": "pay", "person": HEAD, "year": 2022, "amount": "380.00",
               "channel": "cash", "payment_ref": "FAR-1", "at": "2021-11-01T09:00:00+08:00"}
        far = api.post("/commands/pay", pay, "agency_far")
        assert far.status_code == 403 and far.json()["reason"] == "forbidden"
        assert "330102" in far.json()["message"]
        near = api.post("/commands/pay", pay, "agency")
        assert near.status_code != 403  # the same command, in the token's region
    finally:
        api.close()


def test_two_workers_share_one_writer_and_never_overspend_the_pool(
        store_url: str, book, ledger_process: LedgerProcess) -> None:
    first = with_family(Api(store_url, book, ledger_process.address))
    second = Api(store_url, book, ledger_process.address)
    second.tokens = first.tokens
    before = first.get("/health").json()["writer"]["commands"]
    sends = [claim(f"W-{i:03d}", HEAD if i % 2 else WIFE, "40.00") for i in range(120)]
    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(
                lambda ic: (first if ic[0] % 2 else second).post("/commands/claim", ic[1],
                                                                 "clinic"),
                enumerate(sends)))
        health = second.get("/health").json()["writer"]
    finally:
        first.close()
        second.close()
    assert [a.status_code for a in answers if a.status_code != 200] == [], answers[0].json()
    assert health["commands"] - before == len(sends)  # one writer applied them all
    ledger = open_ledger(store_url, book)
    household = ledger.app.repository.get(household_id(HEAD, 2021))
    ledger.app.close()
    assert household.used() == Money.parse("500.00")  # 2 x 250 for the year, never more
    assert {s["claim_id"] for s in sends} <= set(household.claims)


def test_a_stopped_ledger_process_answers_503_with_a_reason_and_records_nothing(
        store_url: str, book) -> None:
    process = LedgerProcess(store_url, None)
    api = with_family(Api(store_url, book, process.address))
    try:
        process.close()
        answer = api.post("/commands/claim", claim("GONE-1", WIFE, "10.00"), "clinic")
        assert answer.status_code == 503
        assert answer.json()["reason"] == "store_unavailable"
        assert "ledger process" in answer.json()["message"]
        assert api.get("/health").status_code == 503
    finally:
        api.close()
    ledger = open_ledger(store_url, book)
    household = ledger.app.repository.get(household_id(HEAD, 2021))
    ledger.app.close()
    assert "GONE-1" not in household.claims


def test_the_ledger_process_stops_when_the_server_that_started_it_is_killed(
        tmp_path: Path) -> None:
    script = ("import sys, time\n"
              "from adapters.server.supervisor import LedgerProcess\n"
              f"p = LedgerProcess('sqlite:///{tmp_path / 'l.db'}', None)\n"
              "print(p.process.pid, flush=True)\n"
              "time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)  # no chance to clean up
        parent.wait(timeout=30)
        for _ in range(300):
            if not alive(child):
                break
            time.sleep(0.1)
        assert not alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its dead parent's reaper) counts as stopped
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_malformed_frame_drops_only_its_connection(tmp_path: Path, book) -> None:
    server = LedgerServer(open_ledger(f"sqlite:///{tmp_path / 'l.db'}", book),
                          str(tmp_path / "ledger.sock"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for junk in (struct.pack(">I", 5) + b"\x80\x04junk", struct.pack(">I", 99) + b"ab",
                     b"\x00\x01"):
            with sockets.socket(sockets.AF_UNIX) as bad:
                bad.connect(server.address)
                bad.sendall(junk)
                bad.shutdown(sockets.SHUT_WR)
                assert bad.recv(10) == b""  # closed without an answer
        with sockets.socket(sockets.AF_UNIX) as good:
            good.connect(server.address)
            good.sendall(frame((1, "stats", None)))
            answer = good.recv(4096)
        assert b"groups" in answer
    finally:
        server.close()


def test_a_command_over_http_is_parsed_once_on_its_way_to_the_ledger_process(
        tmp_path: Path, book, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    server = LedgerServer(open_ledger(url, book), str(tmp_path / "ledger.sock"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    worker = Api(url, book, server.address)
    parsed: list[str] = []
    real = lines.parse_command

    def counting(data: dict) -> object:
        parsed.append(data["op"])
        return real(data)

    monkeypatch.setattr(lines, "parse_command", counting)
    try:
        answers = [worker.post("/commands", c) for c in family()]
    finally:
        worker.close()
        server.close()
    assert [a.status_code for a in answers] == [200] * len(family())
    assert parsed == [c["op"] for c in family()]  # the worker parsed each; the ledger none
    assert worker.app.state.service.ledger is None  # the worker opened no ledger of its own


def test_a_ledger_process_that_dies_is_restarted_and_a_command_resent_under_its_id_is_applied_once(
        store_url: str, book) -> None:
    with LedgerProcess(store_url, None, backoff=0.1) as process:
        api = with_family(Api(store_url, book, process.address))
        try:
            first = process.process.pid
            os.kill(first, signal.SIGKILL)
            refused = api.post("/commands/claim", {**claim("K-1", WIFE, "10.00"),
                                                   "command_id": "clinic-9-0001"}, "clinic")
            assert refused.status_code == 503  # in flight, or sent while it was down
            for _ in range(300):  # the supervisor starts a new one
                if process.restarts == 1 and process.process.is_alive():
                    health = api.get("/health")
                    if health.status_code == 200:
                        break
                time.sleep(0.1)
            assert process.process.pid != first
            assert health.json()["writer"]["restarts"] == 1
            resent = [api.post("/commands/claim", {**claim("K-1", WIFE, "10.00"),
                                                   "command_id": "clinic-9-0001"}, "clinic")
                      for _ in range(2)]
            assert [r.status_code for r in resent] == [200, 200]
            assert resent[1].json()["duplicate"] is True
        finally:
            api.close()
    ledger = open_ledger(store_url, book)
    household = ledger.app.repository.get(household_id(HEAD, 2021))
    ledger.app.close()
    assert list(household.claims).count("K-1") == 1


def test_the_ledger_process_is_restarted_a_bounded_number_of_times(store_url: str) -> None:
    with LedgerProcess(store_url, None, max_restarts=1, backoff=0.05) as process:
        os.kill(process.process.pid, signal.SIGKILL)
        for _ in range(300):
            if process.restarts == 1 and process.process.is_alive():
                break
            time.sleep(0.05)
        second = process.process
        assert process.restarts == 1 and second.is_alive()
        os.kill(second.pid, signal.SIGKILL)
        time.sleep(1.0)  # twenty times the wait before a restart
        assert process.restarts == 1 and not process.process.is_alive()
