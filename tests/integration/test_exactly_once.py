"""Exactly once on real stores (SQLite and PostgreSQL): a command's `command_id` is kept in an
index written in the same transaction as its events; ledgers racing to apply one command under
one id record it once; the audit re-decides commands applied under ids and finds them clean."""

from __future__ import annotations

import threading
from typing import Any

from adapters.application.replay import CommandReader, read_log
from adapters.composition import open_ledger
from adapters.usecases.audit import verify_decisions
from domain.aggregates import CommandRef
from domain.money import Money
from domain.policy_book import PolicyBook
from tests.support.builders import HEAD, WIFE, claim, family


def with_ids(commands: list[dict[str, Any]], prefix: str = "c") -> list[dict[str, Any]]:
    return [{**c, "command_id": f"{prefix}-{n}"} for n, c in enumerate(commands, start=1)]


def test_a_batch_re_sent_under_its_ids_records_nothing_and_answers_as_before(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book)
    commands = with_ids([*family(), claim("C1", WIFE, "200.00")])
    first = ledger.execute_many(commands)
    head = ledger.app.recorder.max_notification_id()
    again = ledger.execute_many(commands)
    assert ledger.app.recorder.max_notification_id() == head
    assert [a.get("duplicate") for a in again] == [True] * len(commands)
    assert [{k: v for k, v in a.items() if k != "duplicate"} for a in again] == first
    ledger.app.close()


def test_ledgers_racing_one_command_under_one_id_record_it_once(
        store_url: str, book: PolicyBook) -> None:
    setup = open_ledger(store_url, book)
    assert all(r["status"] == "ok" for r in setup.execute_many(family()))
    setup.app.close()
    refund = {"op": "refund", "person": HEAD, "year": 2021, "reason": "duplicate_payment",
              "amount": "1.00", "at": "2020-11-01", "command_id": "race-1"}
    ledgers = [open_ledger(store_url, book) for _ in range(4)]
    pay = {"op": "pay", "person": HEAD, "year": 2021, "amount": "5.00", "channel": "cash",
           "payment_ref": "EXTRA", "at": "2020-10-02T10:00:00+08:00"}
    assert ledgers[0].execute(pay)["status"] == "ok"  # 5.00 of credit to refund from
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(len(ledgers))

    def send(ledger) -> None:
        start.wait()
        answers.append(ledger.execute(refund))

    threads = [threading.Thread(target=send, args=(ledger,)) for ledger in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.get("duplicate", False) for a in answers) == [False, True, True, True]
    assert {a["refunded"] for a in answers} == {"1.00"}
    person = ledgers[0].app.repository.get(ledgers[0].app.ids.person(HEAD))
    assert str(person.year(2021).refunded) == "1.00"
    for ledger in ledgers:
        ledger.app.close()


def test_commands_applied_under_ids_audit_clean_and_export_with_their_ids(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book)
    commands = with_ids([*family(), claim("C1", WIFE, "200.00")])
    assert all(r["status"] == "ok" for r in ledger.execute_many(commands))
    assert verify_decisions(ledger.app, book).problems == []
    exported = [rc.command for rc in CommandReader().group(read_log(ledger.app))]
    assert [c.get("command_id") for c in exported] == [c["command_id"] for c in commands]
    recorded = [le.event for le in read_log(ledger.app)
                if isinstance(le.event, CommandRef.Recorded)]
    assert len(recorded) == len(commands)
    ledger.app.close()


def test_a_claim_and_its_reversal_racing_end_either_way_with_nothing_paid(
        store_url: str, book: PolicyBook) -> None:
    setup = open_ledger(store_url, book)
    assert all(r["status"] == "ok" for r in setup.execute_many(family()))
    setup.app.close()
    clinic, agency = open_ledger(store_url, book), open_ledger(store_url, book)
    outcomes = []
    for n in range(12):
        claim_id = f"R-{n}"
        reversal = {"op": "reverse_claim", "claim_id": claim_id, "reason": "no answer",
                    "at": "2021-03-01T09:05:00+08:00"}
        answers: dict[str, dict[str, Any]] = {}
        start = threading.Barrier(2)
        threads = [threading.Thread(target=_send, args=(start, answers, clinic, "claim",
                                                        claim(claim_id, WIFE, "10.00"))),
                   threading.Thread(target=_send, args=(start, answers, agency, "reversal",
                                                        reversal))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers["reversal"]["status"] == "ok"
        if answers["reversal"].get("withdrawn"):  # the reversal came first
            assert answers["claim"]["reason"] == "claim_reversed"
        else:
            assert answers["claim"]["status"] == "ok"
        outcomes.append("withdrawn" if answers["reversal"].get("withdrawn") else "reversed")
    household = clinic.app.repository.get(clinic.app.ids.household(HEAD, 2021))
    assert household.used() == Money(0)  # every claim reversed, whichever came first
    assert all(c.reversed for c in household.claims.values())
    assert set(outcomes) <= {"withdrawn", "reversed"}
    clinic.app.close()
    agency.app.close()


def _send(start: threading.Barrier, answers: dict[str, Any], ledger: Any, name: str,
          command: dict[str, Any]) -> None:
    start.wait()
    answers[name] = ledger.execute(command)
