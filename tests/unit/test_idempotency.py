"""Every command exactly once: a `command_id` on any op answers a re-send with the recorded
result and records nothing; another command under the same id is refused (ADR 44)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.commands import OPS, command_digest, parse_command
from domain.errors import InvalidInput
from tests.support.builders import AT, FUNAN, HEAD, WIFE, family_with_ids, with_ids
from tests.support.fakes import World


def test_every_op_sent_twice_under_its_command_id_is_recorded_once_and_answered_alike(
        world: World) -> None:
    commands = with_ids(family_with_ids())
    first = [world.handle(c) for c in commands]
    events_after_first = len(world.port.events)
    again = [world.handle(c) for c in commands]
    assert len(world.port.events) == events_after_first  # the re-sends recorded nothing
    assert all(not new for _, new in again)
    for (original, _), (resent, _) in zip(first, again, strict=True):
        assert resent.fields == {**original.fields, "duplicate": True}
        assert resent.message == original.message
    assert {c["op"] for c in commands} == set(OPS) - {"quote"}


def test_a_refund_with_an_amount_sent_three_times_under_one_id_refunds_once(
        world: World) -> None:
    for command in with_ids(family_with_ids())[:4]:
        world.handle(command)
    refund = {"op": "refund", "person": HEAD, "year": 2021, "reason": "duplicate_payment",
              "amount": "10.00", "at": "2020-11-01", "command_id": "refund-once"}
    answers = [world.ok(**refund) for _ in range(3)]
    assert [a["refunded"] for a in answers] == ["10.00"] * 3
    assert [a.get("duplicate") for a in answers] == [None, True, True]
    person = world.port.person(HEAD)
    assert str(person.year(2021).refunded) == "10.00"


def test_another_command_under_a_used_id_is_refused_and_records_nothing(world: World) -> None:
    for command in with_ids(family_with_ids())[:4]:
        world.handle(command)
    before = len(world.port.events)
    other = {"op": "pay", "person": HEAD, "year": 2021, "amount": "5.00", "channel": "cash",
             "payment_ref": "P9", "at": AT, "command_id": "desk-7-0004"}
    assert world.reject(**other) == "duplicate_command_conflict"
    assert len(world.port.events) == before


def test_the_same_facts_written_differently_are_the_same_command() -> None:
    a = parse_command({"op": "pay", "person": HEAD.lower(), "year": 2021, "amount": "280",
                       "channel": "cash", "payment_ref": "P", "at": "2020-10-01",
                       "command_id": "x"})
    b = parse_command({"op": "pay", "person": HEAD, "year": 2021, "amount": "280.00",
                       "channel": "cash", "payment_ref": "P",
                       "at": "2020-10-01T00:00:00+08:00"})
    assert command_digest(a) == command_digest(b)
    c = parse_command({"op": "pay", "person": HEAD, "year": 2021, "amount": "280.01",
                       "channel": "cash", "payment_ref": "P", "at": "2020-10-01"})
    assert command_digest(c) != command_digest(b)


def test_a_quote_under_a_command_id_records_nothing(world: World) -> None:
    for command in with_ids(family_with_ids())[:6]:
        world.handle(command)
    before = len(world.port.events)
    quote = {"op": "quote", "claim_id": "Q1", "person": WIFE, "visit_date": "2021-03-01",
             "facility_level": 1, "facility_region": FUNAN, "expense": "100.00",
             "at": "2021-03-01T09:00:00+08:00", "command_id": "q-1"}
    assert world.ok(**quote)["reimbursed"] == world.ok(**quote)["reimbursed"]
    assert len(world.port.events) == before


def test_a_second_refund_under_the_same_refund_reference_is_refused(world: World) -> None:
    for command in family_with_ids()[:4]:
        world.handle(command)
    refund = {"op": "refund", "person": HEAD, "year": 2021, "reason": "duplicate_payment",
              "amount": "5.00", "at": "2020-11-01", "refund_ref": "R-1"}
    assert world.ok(**refund)["refunded"] == "5.00"
    assert world.reject(**refund) == "duplicate_refund_ref"
    assert str(world.port.person(HEAD).year(2021).refunded) == "5.00"


@pytest.mark.parametrize("command_id", ["", " ", "x" * 65, "a\x00b", 7, ["a"]])
def test_a_command_id_that_is_not_short_printable_text_is_invalid(command_id: Any) -> None:
    with pytest.raises(InvalidInput, match="command_id"):
        parse_command({"op": "register", "person": HEAD, "name": "n", "region": FUNAN,
                       "at": AT, "command_id": command_id})
