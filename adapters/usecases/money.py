"""A person-year's money as it was recorded: enrollment, each payment (who paid, how, into
which window), each subsidy and each refund, read from the person's own stream."""

from __future__ import annotations

from typing import Any

from domain.aggregates import Person
from domain.errors import Rejected
from domain.identity import number_of, parse_person_ref


def _row(kind: str, e: Any, amount: Any, **fields: Any) -> dict[str, Any]:
    """One entry: what every kind has, then its own fields."""
    return {"kind": kind, "at": e.at.isoformat(), "amount": str(amount), "due": str(e.due),
            "subsidy": None, "identity": None, "channel": None, "payer": None,
            "reference": None, **fields}


def person_money(app: Any, ref: str, year: int) -> dict[str, Any]:
    """Raises `Rejected`: `invalid_id`/`invalid_input` for an unusable ID, `unknown_person`
    when it is not registered, `not_enrolled` when it was not enrolled that year."""
    key = parse_person_ref(ref).key
    events = list(app.events.get(app.ids.person(key)))
    if not events:
        raise Rejected("unknown_person", f"{ref} is not registered")
    number = number_of(key)
    rows: list[dict[str, Any]] = []
    region = None
    for e in events:
        if getattr(e, "year", None) != year:
            continue
        if isinstance(e, Person.Enrolled):
            region = e.region
            rows.append(_row("enrolled", e, e.due, subsidy=str(e.subsidy),
                             identity=e.identity, rule=f"{e.policy_id}@{e.policy_version}"))
        elif isinstance(e, Person.ContributionPaid):
            rows.append(_row("payment", e, e.amount, channel=e.channel,
                             payer=number_of(e.payer), payer_relation=e.payer_relation,
                             reference=e.payment_ref, accepted_in=e.accepted_in,
                             covered_from=(e.covered_from.isoformat()
                                           if e.covered_from else None)))
        elif isinstance(e, Person.SubsidyGranted):
            rows.append(_row("subsidy", e, e.subsidy, subsidy=str(e.subsidy),
                             identity=e.identity, rule=f"{e.policy_id}@{e.policy_version}"))
        elif isinstance(e, Person.Refunded):
            rows.append(_row("refund", e, e.amount, channel=e.channel, reason=e.reason,
                             terminated=e.terminated))
    if region is None:
        raise Rejected("not_enrolled", f"{number} is not enrolled for {year}")
    return {"person": number, "year": year, "region": region, "entries": rows}
