"""What payers do under a reform (ADR 81): the recorded commands, as the payers would have
sent them, before either engine replays them.

- `recorded`: the commands as recorded (these exact payments met against the reform);
- `pay-new-due`: a person-year's covering payment (the one that met the due in the record)
  carries the change of the net due the reform makes (`domain.rules.behaviour`);
- with a take-up elasticity, a payer whose due rises drops out with the probability it sets
  (drawn from the seed, the person and the year): their payments of that year are not sent;
  and where the due falls, a person-year enrolled but never covered in the record joins with
  the probability it sets: a payment of the new due is sent right after the enrollment, on its
  day, in cash (ADR 95).

Both engines read the commands through `behave`, so they replay the same commands.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

from attrs import evolve, frozen

from adapters.application.replay import RecordedCommand
from domain.aggregates import Person
from domain.policy_book import PolicyBook
from domain.rules.behaviour import (
    PAY_NEW_DUE,
    RECORDED,
    draw,
    drops_out,
    joins,
    new_due_payment,
    take_up_change,
)
from domain.rules.contribution import decide_contribution


@frozen
class Behaviour:
    """How payers answer the reform: `kind` (pay-new-due or recorded), and for pay-new-due
    an optional take-up `elasticity` (change of enrollment per 1% change of the net due,
    as a fraction per fraction) drawn with `seed`."""

    kind: str = PAY_NEW_DUE
    elasticity: Decimal | None = None
    seed: int = 0

    @property
    def mechanical(self) -> Behaviour:
        """The same behaviour without the behavioural response (the mechanical effect)."""
        return evolve(self, elasticity=None)

    @property
    def responds(self) -> bool:
        return self.elasticity is not None

    def describe(self) -> dict[str, Any]:
        return {"behaviour": self.kind,
                "take_up_elasticity": None if self.elasticity is None else str(self.elasticity),
                "seed": self.seed if self.elasticity is not None else None}


#: The commands exactly as recorded.
AS_RECORDED = Behaviour(RECORDED)


def behave(commands: Iterable[RecordedCommand], reform: PolicyBook, behaviour: Behaviour
           ) -> Iterator[RecordedCommand]:
    """The recorded commands as the payers would send them under the reform."""
    if behaviour.kind == RECORDED:
        yield from commands
        return
    covered: set[tuple[UUID, int]] = set()
    if behaviour.elasticity is not None:  # who was ever covered: the rest may join
        commands = list(commands)
        for rc in commands:
            e = rc.primary
            if isinstance(e, Person.ContributionPaid | Person.SubsidyGranted | Person.Enrolled
                          ) and e.covered_from is not None:
                covered.add((e.originator_id, e.year))
    years: dict[tuple[UUID, int], Any] = {}  # (person stream, year) -> its Enrolled
    identities: dict[tuple[UUID, int], str | None] = {}
    dropped: set[tuple[UUID, int]] = set()
    for rc in commands:
        e = rc.primary
        if isinstance(e, Person.Enrolled):
            years[(e.originator_id, e.year)] = e
            identities[(e.originator_id, e.year)] = e.identity
            if behaviour.elasticity is not None and (e.originator_id, e.year) not in covered:
                yield rc
                joining = _joining(rc, e, reform, behaviour)
                if joining is not None:
                    yield joining
                continue
        elif isinstance(e, Person.SubsidyGranted):
            identities[(e.originator_id, e.year)] = e.identity
        elif isinstance(e, Person.ContributionPaid):
            key = (e.originator_id, e.year)
            if key in dropped:
                continue
            enrolled = years.get(key)
            if e.covered_from is not None and enrolled is not None:
                policy = reform.find(enrolled.region, e.year)
                if policy is None:
                    yield rc
                    continue
                due = decide_contribution(policy, enrolled.birth_date, enrolled.category,
                                          identities.get(key)).due
                if behaviour.elasticity is not None and drops_out(
                        take_up_change(behaviour.elasticity, e.due, due),
                        draw(behaviour.seed, str(e.originator_id), e.year)):
                    dropped.add(key)
                    continue
                amount = new_due_payment(e.amount, e.due, due)
                if amount is None:
                    continue
                if amount != e.amount:
                    rc = evolve(rc, command={**rc.command, "amount": str(amount)})
        yield rc


def _joining(rc: RecordedCommand, e: Any, reform: PolicyBook, behaviour: Behaviour
             ) -> RecordedCommand | None:
    """The payment an enrolled person who never paid makes when the reform lowers the due
    and the draw says they join (ADR 95); None otherwise."""
    policy = reform.find(e.region, e.year)
    if policy is None or behaviour.elasticity is None:
        return None
    due = decide_contribution(policy, e.birth_date, e.category, e.identity).due
    if due.fen <= 0 or not joins(take_up_change(behaviour.elasticity, e.due, due),
                                 draw(behaviour.seed, str(e.originator_id), e.year)):
        return None
    person = rc.command.get("person")
    command = {"op": "pay", "person": person, "year": e.year, "amount": str(due),
               "channel": "cash", "payment_ref": f"whatif-join-{e.originator_id.hex}-{e.year}",
               "at": rc.command.get("at")}
    return RecordedCommand(rc.position, rc.recorded_at, command, None)
