"""The partition plan (ADR 54): commands joined through the streams they wrote, packed into
parts; parts whose replays met are found."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.utils import get_topic

from adapters.application.ingest_run import IngestRun
from adapters.application.partitions import Part, merge_met, merged, plan_partitions
from domain.aggregates import ClaimRef, Household, PaymentRef, Person

REGISTERED = get_topic(Person.Registered)
ENROLLED = get_topic(Person.Enrolled)
PAID = get_topic(Person.ContributionPaid)
FORMED = get_topic(Household.Formed)
JOINED = get_topic(Household.MemberJoined)
SETTLED = get_topic(Household.OutpatientClaimSettled)
CLAIMED = get_topic(ClaimRef.Claimed)
REF = get_topic(PaymentRef.Claimed)
JOURNAL = get_topic(IngestRun.BatchApplied)


def hexid(n: int) -> str:
    return UUID(int=n).hex


def family(head: int, member: int, household: int, start: int) -> list[tuple[int, str, str]]:
    """Two registrations, the head's and the member's enrollments into one household-year,
    and a claim of the member's against it."""
    rows = [(REGISTERED, head), (REGISTERED, member),
            (ENROLLED, head), (FORMED, household), (JOINED, household),
            (ENROLLED, member), (JOINED, household),
            (SETTLED, household), (CLAIMED, 900 + household)]
    return [(start + n, hexid(oid), topic) for n, (topic, oid) in enumerate(rows)]


def test_a_household_year_travels_with_its_members_person_streams() -> None:
    rows = family(1, 2, 10, 1) + family(3, 4, 20, 10)
    plan = plan_partitions(sorted(rows), parts=2, upto=18)
    assert plan.components == 2
    streams = sorted(sorted(p.streams) for p in plan.parts)
    assert streams == sorted([sorted(hexid(i) for i in (1, 2, 10, 910)),
                              sorted(hexid(i) for i in (3, 4, 20, 920))])


def test_every_event_but_the_journals_lies_in_exactly_one_part() -> None:
    rows = family(1, 2, 10, 1) + [(10, hexid(77), JOURNAL)] + family(3, 4, 20, 11) \
        + family(5, 6, 30, 20)
    plan = plan_partitions(rows, parts=2, upto=28)
    positions = sorted(p for part in plan.parts for p in part.positions)
    assert positions == [r[0] for r in rows if r[2] != JOURNAL]
    assert plan.operational == 1
    assert sorted(part.events for part in plan.parts) == [9, 18]


def test_commands_sharing_an_index_are_joined_even_across_households() -> None:
    one = [(1, hexid(1), REGISTERED), (2, hexid(1), PAID), (3, hexid(50), REF)]
    other = [(4, hexid(2), REGISTERED), (5, hexid(2), PAID), (6, hexid(50), REF)]
    plan = plan_partitions(one + other, parts=2, upto=6)
    assert plan.components == 1 and len(plan.parts) == 1


def test_a_log_that_starts_mid_command_keeps_its_first_events_together() -> None:
    rows = [(1, hexid(10), JOINED), (2, hexid(20), JOINED)] + family(3, 4, 30, 3)
    plan = plan_partitions(rows, parts=3, upto=11)
    holding = [p for p in plan.parts if 1 in p.positions]
    assert len(holding) == 1 and 2 in holding[0].positions


def test_parts_that_touched_each_others_streams_must_be_replayed_together() -> None:
    parts = [Part((1,), frozenset({hexid(1)})), Part((2,), frozenset({hexid(2)})),
             Part((3,), frozenset({hexid(3)}))]
    assert merge_met(parts, [set(), set(), set()]) == []
    assert merge_met(parts, [set(), {UUID(int=1)}, set()]) == [[0, 1]]
    assert merge_met(parts, [{UUID(int=99)}, set(), {UUID(int=99)}]) == [[0, 2]]
    assert merged([parts[2], parts[0]]) == Part((1, 3), frozenset({hexid(1), hexid(3)}))
