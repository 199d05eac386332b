"""The re-decision split into partitions (ADR 54) on real stores: the same findings as the
whole replay, parts that met merged, a store read by positions and columns alike on SQLite
and PostgreSQL."""

from __future__ import annotations

import json

from adapters.application.partitions import plan_of
from adapters.composition import open_ledger
from adapters.generator import generate_county
from adapters.usecases.decisions import (
    in_process,
    verify_decisions,
    verify_partitioned,
)
from domain.policy_book import PolicyBook
from tests.support.builders import family
from tests.support.states import packed, plain
from tests.support.stores import raw_store


def county(url: str, book: PolicyBook, households: int = 12):
    ledger = open_ledger(url, book)
    lines = [json.dumps(c) for c in generate_county(households, "fuyang-2021", 11, book)]
    list(ledger.execute_lines(lines, batch_size=50))
    return ledger


def test_a_county_re_decided_in_parts_finds_what_the_whole_replay_finds(
        store_url: str, book: PolicyBook) -> None:
    ledger = county(store_url, book)
    whole = verify_decisions(ledger.app, book)
    plan = plan_of(ledger.app, 3)
    assert len(plan.parts) == 3 and plan.components >= 12
    split = verify_partitioned(plan, in_process(ledger.app, book))
    assert split == whole
    assert whole.checked["events"] == ledger.app.recorder.max_notification_id()


def test_an_edited_decision_is_found_in_its_part_at_its_place(
        store_url: str, book: PolicyBook) -> None:
    ledger = county(store_url, book)
    ledger.app.close()
    with raw_store(store_url) as con:
        for position, state in con.execute(
                "SELECT {pos}, state FROM {events} WHERE topic LIKE ? ORDER BY {pos} LIMIT 3",
                ("%ContributionPaid",)):
            data = json.loads(plain(bytes(state)))
            data["paid_total"]["_data_"] += 1
            con.execute("UPDATE {events} SET state = ? WHERE {pos} = ?",
                        (packed(json.dumps(data).encode()), position))
    ledger = open_ledger(store_url, book)
    whole = verify_decisions(ledger.app, book)
    split = verify_partitioned(plan_of(ledger.app, 4), in_process(ledger.app, book))
    assert [p["kind"] for p in whole.problems].count("decision_differs") >= 3
    assert split == whole


def test_parts_that_met_are_merged_and_re_decided_together(
        store_url: str, book: PolicyBook) -> None:
    ledger = open_ledger(store_url, book)
    results = ledger.execute_many(family()[:5])  # the wife enrolled, not yet paid
    assert all(r["status"] == "ok" for r in results), results
    ledger.app.close()
    with raw_store(store_url) as con:  # the member's enrollment no longer names the household
        enrolled = con.execute("SELECT {pos} FROM {events} WHERE topic LIKE ? ORDER BY {pos}",
                               ("%Person.Enrolled",))
        con.execute("DELETE FROM {events} WHERE topic LIKE ? AND {pos} > ?",
                    ("%MemberJoined", enrolled[1][0]))
    ledger = open_ledger(store_url, book)
    plan = plan_of(ledger.app, 2)
    rounds: list[int] = []
    run = in_process(ledger.app, book)

    def counted(plan, parts):
        rounds.append(len(parts))
        return run(plan, parts)

    split = verify_partitioned(plan, counted)
    assert split == verify_decisions(ledger.app, book)
    assert rounds == [2, 1]  # the two parts met, and ran again as one
