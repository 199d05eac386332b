"""The person side of a log read without its settled claims (ADR 114): the commands it groups
into are the whole log's but the claims settled, each with the very events it has there."""

from __future__ import annotations

import inspect
import json
from typing import Any

from eventsourcing.domain import DomainEvent

import domain.aggregates as aggregates
from adapters.application.ingest_run import OPERATIONAL
from adapters.application.replay import (
    DERIVED,
    PRIMARY,
    CommandReader,
    read_log,
    read_without_settled_claims,
)
from adapters.composition import open_ledger
from adapters.generator import generate_county
from adapters.whatif.exact import Scope
from adapters.whatif.fast import replay_timeline
from domain.aggregates import Household
from domain.policy_book import PolicyBook
from tests.support.builders import HEAD, WIFE, claim, family_with_ids, with_ids


def test_every_event_class_the_ledger_writes_is_a_primary_derived_or_operational_one() -> None:
    written = {event for _, cls in inspect.getmembers(aggregates, inspect.isclass)
               if cls.__module__ == aggregates.__name__
               for event in vars(cls).values()
               if inspect.isclass(event) and issubclass(event, DomainEvent)
               and event.__name__ not in ("Event", "Created")}
    assert len(written) >= 19 and written <= {*PRIMARY, *DERIVED, *OPERATIONAL}


def _history(book: PolicyBook) -> list[dict[str, Any]]:
    """A county, then a family under command ids with claims settled, refused, reversed,
    and one reversed before it arrived (its withdrawal is person side, under an id too)."""
    county = list(generate_county(8, "fuyang-2021", 3, book))
    own = family_with_ids()
    later = with_ids([claim("K1", HEAD, "80.00"), claim("K2", WIFE, "9000.00"),
                      {"op": "reverse_claim", "claim_id": "K1", "reason": "billed twice",
                       "at": "2021-03-05T09:00:00+08:00"},
                      {"op": "reverse_claim", "claim_id": "K9", "reason": "not yet billed",
                       "at": "2021-03-05T09:00:00+08:00"},
                      claim("K9", WIFE, "50.00"), claim("K3", WIFE, "60.00")])
    later = [{**c, "command_id": "later-" + c["command_id"]} for c in later]
    return county + own + later


def _commands(log: Any) -> list[tuple[int, dict[str, Any], list[int], str | None]]:
    return [(rc.position, rc.command, [e.position for e in rc.events], rc.digest)
            for rc in CommandReader().group(log)]


def test_the_person_side_read_groups_every_command_but_the_settled_claims_as_the_whole_log(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book)
    results = list(ledger.execute_lines(json.dumps(c) for c in _history(book)))
    assert {r["status"] for r in results} == {"ok", "rejected"}
    app = ledger.app
    whole = _commands(read_log(app))
    settled = {rc.position for rc in CommandReader().group(read_log(app))
               if isinstance(rc.primary, Household.OutpatientClaimSettled)}
    assert len(settled) > 10 and any("command_id" in cmd for _, cmd, _, _ in whole)
    assert _commands(read_without_settled_claims(app)) == [
        c for c in whole if c[0] not in settled]
    assert any(c[1]["op"] == "reverse_claim" and c[0] not in settled for c in whole)
    ledger.app.close()


def test_a_person_side_replay_gives_the_same_timeline_and_money_from_either_read(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book)
    list(ledger.execute_lines(json.dumps(c) for c in _history(book)))
    app = ledger.app
    answers = [replay_timeline(read(app), app.ids, Scope(), book, app.personal)
               for read in (read_log, read_without_settled_claims)]
    (t1, side1, touched1), (t2, side2, touched2) = answers
    assert t1.rows == t2.rows and side1 == side2 and touched1 == touched2
    assert t1.rows and side1.person_years
    app.close()
