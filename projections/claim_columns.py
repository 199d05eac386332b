"""The rows of the columnar claims store, folded from the ledger's events (pure: no storage).

The columnar store (`adapters.stores.columnar`, ADR 50) keeps what the fast what-if engine
reads: each household's region, year, head and per-person cap (ADR 102), each member's
coverage timeline as positions of the log, each settled claim's facts, recorded outcome and
reversal, and each person-year's money (due, subsidy, paid, refunded, covered, terminated,
the rule that enrolled it).
`ClaimColumnsFold` turns one batch of decoded events into the rows to write. A person-year
stored before the batch is preloaded (`needs`, `preload`) and written whole again; for the
rest, rows written by earlier batches are not known here, so an event about them becomes a
patch (a member's later coverage, suspension or
departure; a claim's reversal) that the store applies to the stored row, and that touches
nothing when there is no such row — as the SQL views ignore an event about a member their
household never had.

The member and claim rows carry the same values as `household_member` and `claims_journal`
(persons by the views' pseudonym, positions are notification ids), so the fast engine reads
the same timeline and facts from either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from hashlib import blake2b
from typing import Any
from uuid import UUID

from attrs import define, field
from eventsourcing.utils import get_topic

from domain.aggregates import Household, Person
from domain.rules.outpatient import claim_scope
from projections.rows import settled_once

#: A person-year's events after its enrollment: they change a stored state (`preload`).
PERSON_LATER = (Person.ContributionPaid, Person.SubsidyGranted, Person.Refunded)
HANDLED = (Person.Registered, Person.Enrolled, *PERSON_LATER, Household.Formed,
           Household.MemberJoined, Household.MemberCovered, Household.MemberSuspended,
           Household.MemberLeft, Household.OutpatientClaimSettled, Household.ClaimReversed)
#: The event topics the columnar store reads; every other event only moves its position.
TOPICS: tuple[str, ...] = tuple(get_topic(cls) for cls in HANDLED)

#: `head`: the views' pseudonym of the head; `cap_each`: the per-person outpatient cap the
#: household was formed under (fen), None when `Household.Formed` did not name it (ADR 29).
HOUSEHOLD_COLUMNS = ("household_id", "region", "year", "position", "hkey", "head", "cap_each")
MEMBER_COLUMNS = ("household_id", "person", "region", "covered_from", "covered_to",
                  "joined_position", "covered_position", "suspended_position",
                  "left_position", "hkey", "pkey")
#: The member columns a later event sets (never back to null).
MEMBER_PATCHED = ("covered_from", "covered_to", "covered_position", "suspended_position",
                  "left_position")
CLAIM_COLUMNS = ("claim_id", "household_id", "person", "visit_date", "facility_level",
                 "facility_region", "expense", "cause", "eligible", "reimbursable",
                 "reimbursed", "pool_cap", "pool_used_before", "pool_remaining_after",
                 "policy_id", "policy_version", "position", "reversal_position", "hkey",
                 "pkey")

PERSON_COLUMNS = ("person_uuid", "person")
#: One row per person-year, its state after the last event folded (as `person_year_version`'s
#: latest row holds it); `covered`: a coverage start was decided (and not undone by a
#: terminating refund).
PERSON_YEAR_COLUMNS = ("person_uuid", "year", "region", "due", "subsidy", "paid", "refunded",
                       "covered", "terminated", "rule", "position")

_MEMBER = {name: i for i, name in enumerate(MEMBER_COLUMNS)}
_REVERSAL = CLAIM_COLUMNS.index("reversal_position")


def household_key(household_id: UUID) -> int:
    """A household's integer key in the columnar store (ADR 78): the top 63 bits of its
    stream id, a hash already; the store refuses a second household with the same key."""
    return household_id.int >> 65


def person_key(person: str) -> int:
    """A member's integer key within its household (ADR 78): 63 bits of a BLAKE2b digest of
    the person column's value; a read that finds two members of one household with the same
    key refuses to answer from the columnar store."""
    return int.from_bytes(blake2b(person.encode(), digest_size=8).digest(), "big") >> 1


@define
class ColumnarBatch:
    """One batch's rows: new ones, and patches of rows written before the batch."""

    households: list[tuple[Any, ...]] = field(factory=list)
    #: (household id, person) -> the member's whole row; replaces a stored one (a re-join).
    members: dict[tuple[str, str], list[Any]] = field(factory=dict)
    #: (household id, person) -> {column: value} for a member stored before the batch.
    member_patches: dict[tuple[str, str], dict[str, Any]] = field(factory=dict)
    claims: dict[str, list[Any]] = field(factory=dict)
    #: claim id -> the reversal's position, for a claim stored before the batch.
    reversals: dict[str, int] = field(factory=dict)
    persons: list[tuple[str, str]] = field(factory=list)
    #: (person uuid, year) -> the person-year's whole row; replaces a stored one.
    person_years: dict[tuple[str, int], list[Any]] = field(factory=dict)

    def __bool__(self) -> bool:
        return bool(self.households or self.members or self.member_patches or self.claims
                    or self.reversals or self.persons or self.person_years)


class ClaimColumnsFold:
    """Folds decoded events, in log order, into a `ColumnarBatch`."""

    def __init__(self, pseudonym: Callable[[str], str]) -> None:
        self.pseudonym = pseudonym
        self.batch = ColumnarBatch()
        self.stored: dict[tuple[str, int], list[Any]] = {}
        #: The batch's claim ids already settled in rows stored before it (`preload`).
        self.settled_before: set[str] = set()

    @staticmethod
    def needs(events: list[Any]) -> set[tuple[str, int]]:
        """The person-years whose stored rows the events change (to `preload`)."""
        return {(str(e.originator_id), e.year) for e in events if isinstance(e, PERSON_LATER)}

    @staticmethod
    def settling(events: list[Any]) -> set[str]:
        """The claim ids the events settle (to ask the store which it holds already)."""
        return {e.claim_id for e in events if isinstance(e, Household.OutpatientClaimSettled)}

    def preload(self, rows: list[tuple[Any, ...]], settled: set[str] = frozenset()) -> None:
        """Person-year rows stored before the batch (PERSON_YEAR_COLUMNS), and which of the
        batch's claim ids stored rows settled already."""
        self.stored.update(((r[0], r[1]), list(r)) for r in rows)
        self.settled_before |= settled

    def take(self) -> ColumnarBatch:
        """The rows folded so far; the fold starts an empty batch."""
        batch, self.batch = self.batch, ColumnarBatch()
        self.stored = {}
        self.settled_before = set()
        return batch

    def apply(self, e: Any, position: int) -> None:
        """Fold one event recorded at `position` (events of other types are ignored)."""
        if isinstance(e, Household.OutpatientClaimSettled):
            settled_once(e.claim_id, self.batch.claims, self.settled_before)
            person = self.pseudonym(e.person)
            scope = claim_scope(e.expense, e.cause, e.third_party_share)  # ADR 64
            self.batch.claims[e.claim_id] = [
                e.claim_id, str(e.originator_id), person, e.visit_date,
                e.facility_level, e.facility_region, scope.expense.fen, scope.cause,
                e.eligible_expense.fen, e.reimbursable.fen, e.reimbursed.fen, e.pool_cap.fen,
                e.pool_used_before.fen, e.pool_remaining_after.fen, e.policy_id,
                e.policy_version, position, None, household_key(e.originator_id),
                person_key(person)]
        elif isinstance(e, Household.ClaimReversed):
            claim = self.batch.claims.get(e.claim_id)
            if claim is not None:
                claim[_REVERSAL] = position
            else:
                self.batch.reversals[e.claim_id] = position
        elif isinstance(e, Household.MemberJoined):
            key = (str(e.originator_id), self.pseudonym(e.person))
            self.batch.member_patches.pop(key, None)
            self.batch.members[key] = [key[0], key[1], e.region, None, None, position, None,
                                       None, None, household_key(e.originator_id),
                                       person_key(key[1])]
        elif isinstance(e, Household.MemberCovered):
            self._member(e, covered_from=e.covered_from, covered_to=e.covered_to,
                         covered_position=position)
        elif isinstance(e, Household.MemberSuspended):
            self._member(e, suspended_position=position)
        elif isinstance(e, Household.MemberLeft):
            self._member(e, left_position=position)
        elif isinstance(e, Household.Formed):
            cap = e.per_person_cap
            self.batch.households.append((str(e.originator_id), e.region, e.year, position,
                                          household_key(e.originator_id),
                                          self.pseudonym(e.head),
                                          None if cap is None else cap.fen))
        elif isinstance(e, Person.Registered):
            self.batch.persons.append((str(e.originator_id), self.pseudonym(e.person_key)))
        elif isinstance(e, Person.Enrolled):
            self.batch.person_years[(str(e.originator_id), e.year)] = [
                str(e.originator_id), e.year, e.region, e.due.fen, e.subsidy.fen, 0, 0,
                e.covered_from is not None, False, f"{e.policy_id}@{e.policy_version}",
                position]
        elif isinstance(e, PERSON_LATER):
            self._person_year(e, position)

    def _person_year(self, e: Any, position: int) -> None:
        """A later event of a person-year, folded as the views fold it; one the views never
        saw enrolled changes nothing."""
        key = (str(e.originator_id), e.year)
        row = self.batch.person_years.get(key) or self.stored.get(key)
        if row is None:
            return
        self.batch.person_years[key] = row
        row[10] = position
        if isinstance(e, Person.ContributionPaid):
            row[5] += e.amount.fen
            row[7] = row[7] or e.covered_from is not None
        elif isinstance(e, Person.SubsidyGranted):
            row[3], row[4] = e.due.fen, e.subsidy.fen
            row[7] = row[7] or e.covered_from is not None
        else:
            row[6] += e.amount.fen
            if e.terminated:
                row[7], row[8] = False, True

    def _member(self, e: Any, **values: date | int) -> None:
        key = (str(e.originator_id), self.pseudonym(e.person))
        row = self.batch.members.get(key)
        if row is not None:
            for name, value in values.items():
                row[_MEMBER[name]] = value
        else:
            self.batch.member_patches.setdefault(key, {}).update(values)
