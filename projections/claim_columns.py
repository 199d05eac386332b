"""The rows of the columnar claims store, folded from the ledger's events (pure: no storage).

The columnar store (`adapters.stores.columnar`, ADR 50) keeps what the fast what-if engine
reads: each household's region and year, each member's coverage timeline as positions of the
log, and each settled claim's facts, recorded outcome and reversal. `ClaimColumnsFold` turns
one batch of decoded events into the rows to write; rows written by earlier batches are not
known here, so an event about them becomes a patch (a member's later coverage, suspension or
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
from typing import Any

from attrs import define, field
from eventsourcing.utils import get_topic

from domain.aggregates import Household

HANDLED = (Household.Formed, Household.MemberJoined, Household.MemberCovered,
           Household.MemberSuspended, Household.MemberLeft, Household.OutpatientClaimSettled,
           Household.ClaimReversed)
#: The event topics the columnar store reads; every other event only moves its position.
TOPICS: tuple[str, ...] = tuple(get_topic(cls) for cls in HANDLED)

HOUSEHOLD_COLUMNS = ("household_id", "region", "year", "position")
MEMBER_COLUMNS = ("household_id", "person", "region", "covered_from", "covered_to",
                  "joined_position", "covered_position", "suspended_position",
                  "left_position")
#: The member columns a later event sets (never back to null).
MEMBER_PATCHED = MEMBER_COLUMNS[3:5] + MEMBER_COLUMNS[6:]
CLAIM_COLUMNS = ("claim_id", "household_id", "person", "visit_date", "facility_level",
                 "facility_region", "expense", "cause", "eligible", "reimbursable",
                 "reimbursed", "pool_cap", "pool_used_before", "pool_remaining_after",
                 "policy_id", "policy_version", "position", "reversal_position")

_MEMBER = {name: i for i, name in enumerate(MEMBER_COLUMNS)}


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

    def __bool__(self) -> bool:
        return bool(self.households or self.members or self.member_patches or self.claims
                    or self.reversals)


class ClaimColumnsFold:
    """Folds decoded events, in log order, into a `ColumnarBatch`."""

    def __init__(self, pseudonym: Callable[[str], str]) -> None:
        self.pseudonym = pseudonym
        self.batch = ColumnarBatch()

    def take(self) -> ColumnarBatch:
        """The rows folded so far; the fold starts an empty batch."""
        batch, self.batch = self.batch, ColumnarBatch()
        return batch

    def apply(self, e: Any, position: int) -> None:
        """Fold one event recorded at `position` (events of other types are ignored)."""
        if isinstance(e, Household.OutpatientClaimSettled):
            self.batch.claims[e.claim_id] = [
                e.claim_id, str(e.originator_id), self.pseudonym(e.person), e.visit_date,
                e.facility_level, e.facility_region, e.expense.fen, e.cause,
                e.eligible_expense.fen, e.reimbursable.fen, e.reimbursed.fen, e.pool_cap.fen,
                e.pool_used_before.fen, e.pool_remaining_after.fen, e.policy_id,
                e.policy_version, position, None]
        elif isinstance(e, Household.ClaimReversed):
            claim = self.batch.claims.get(e.claim_id)
            if claim is not None:
                claim[-1] = position
            else:
                self.batch.reversals[e.claim_id] = position
        elif isinstance(e, Household.MemberJoined):
            key = (str(e.originator_id), self.pseudonym(e.person))
            self.batch.member_patches.pop(key, None)
            self.batch.members[key] = [key[0], key[1], e.region, None, None, position, None,
                                       None, None]
        elif isinstance(e, Household.MemberCovered):
            self._member(e, covered_from=e.covered_from, covered_to=e.covered_to,
                         covered_position=position)
        elif isinstance(e, Household.MemberSuspended):
            self._member(e, suspended_position=position)
        elif isinstance(e, Household.MemberLeft):
            self._member(e, left_position=position)
        elif isinstance(e, Household.Formed):
            self.batch.households.append((str(e.originator_id), e.region, e.year, position))

    def _member(self, e: Any, **values: date | int) -> None:
        key = (str(e.originator_id), self.pseudonym(e.person))
        row = self.batch.members.get(key)
        if row is not None:
            for name, value in values.items():
                row[_MEMBER[name]] = value
        else:
            self.batch.member_patches.setdefault(key, {}).update(values)
