"""Where a command acts, for the region prefixes of API tokens (ADR 20): read from the
ledger's own state, where the ledger's commands run, just before the command is decided."""

from __future__ import annotations

from typing import Any

from adapters.application.ledger import Ledger
from domain import commands as c
from domain.errors import LedgerError
from domain.ids import claim_ref_id


class OutOfRegion(LedgerError):
    """A command acts in a region outside its token's: kept out of its group."""

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.region = region


def command_region(ledger: Ledger, command: Any) -> str | None:
    """The region a parsed command acts in; None when the ledger will refuse the command as
    unknown (unknown_person), or names none yet (a claim reversed before it came, ADR 46)."""
    if isinstance(command, c.Register | c.Enroll | c.RecogniseIdentity):
        return command.region.code
    if isinstance(command, c.Claim):  # claim and quote: the facility's county
        return command.facility_region.code
    if isinstance(command, c.ReverseClaim):
        ref = ledger.latest(claim_ref_id(command.claim_id))
        known = ref is not None and ref.household is not None  # else: not settled yet
        household = ledger.latest(ref.household) if known else None
        settled = household.claims.get(command.claim_id) if household is not None else None
        return settled.facility_region if settled is not None else None
    # pay, grant_subsidy, refund, report_employee_insurance: where the person is enrolled
    # that year, else where they registered.
    person = ledger.latest(ledger.app.ids.person(command.person.key))
    if person is None:
        return None
    py = person.year(command.year)
    return py.region if py is not None else person.region


def check_region(ledger: Ledger, command: Any, scope: str | None) -> None:
    """Refuse (OutOfRegion) a parsed command whose region lies outside the region prefix
    `scope` (None: any region)."""
    if scope is None:
        return
    region = command_region(ledger, command)
    if region is not None and not region.startswith(scope):
        raise OutOfRegion(region)
