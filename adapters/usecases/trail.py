"""The audit trail: a person's (or a whole household's) recorded history for one benefit year,
explained.

Each entry is one recorded event, in log order, with

- `position`: the event's notification id in the application log, `recorded_at` (when the
  ledger recorded it) and `at` (the business time the fact happened);
- `facts`: what the decision was taken on (the inputs the event carries) and `decision`: what
  was decided (the outputs), money as exact strings ("12.34"), dates and times in ISO 8601;
- `rule`: the policy `id@version` that decided, `policy_hash`: the content hash of that policy
  as recorded with the decision (None for events recorded before decisions named it) and
  `policy_hash_loaded`: the hash of that policy version as loaded now, for comparison;
- `explanation`: the sentence recorded with the decision;
- `because`: for each policy field the decision read, the seed sentence(s) and assumption(s)
  noted for it in the policy file (`[references]`, `[assumptions]`, the nearest noted parent
  field when the field itself has none), as `{"field", "noted_at", "source", "decides"}`.
  `decides` names the decided values the field bears on; `admitted` stands for the decision to
  accept the command at all. `source` is None where the policy notes nothing for the field.

Identity numbers are shown in full (auditors see them); names appear only in registration
entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from domain.aggregates import Household, Person
from domain.errors import Rejected
from domain.identity import age_on, number_of, parse_person_ref
from domain.money import Money
from domain.policy import Policy
from domain.rules.citations import cap_example
from domain.rules.collection import add_period, is_newborn
from domain.rules.coverage import CoverageFacts

#: Fields of an event shown apart from its facts and decision: the library's own, the rule,
#: the business time (the entry's `at`).
_META = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp",
                   "policy_id", "policy_version", "policy_hash", "explanation", "person_key",
                   "at"})

#: For each event kind, the fields holding what was decided; every other field is a fact.
DECISION_FIELDS: dict[str, tuple[str, ...]] = {
    "Registered": (),
    "EmployeeInsuranceReported": (),
    "IdentityRecognised": (),
    "Enrolled": ("standard", "subsidy", "subsidy_basis", "due", "covered_from", "fiscal"),
    "ContributionPaid": ("accepted_in", "paid_total", "credit", "covered_from"),
    "SubsidyGranted": ("standard", "subsidy", "subsidy_basis", "due", "credit", "covered_from"),
    "Refunded": ("amount", "terminated", "refunded_total", "credit"),
    "Formed": ("per_person_cap",),
    "MemberJoined": (),
    "MemberCovered": ("covered_from", "covered_to"),
    "MemberSuspended": (),
    "MemberLeft": (),
    "OutpatientClaimSettled": ("pooling", "eligible_expense", "reimbursable", "reimbursed",
                               "pool_cap", "pool_remaining_after"),
    "ClaimReversed": ("amount",),
}

#: Fields that hold a person's ledger key: shown as the ID or document number.
_PERSON_FIELDS = frozenset({"person", "household_head", "payer", "head"})

#: Notifications read per query when the store offers no lookup by aggregate.
_PAGE = 1000


def audit_trail(app: Any, policies: Any, ref: str, year: int) -> dict[str, Any]:
    """The explained history of a person (or, for a head, the household) in a benefit year.

    `app` is the event store read; `policies` (a `PolicyBook`) explain the decisions.
    Raises `Rejected`: `invalid_id`/`invalid_input` for an unusable ID, `unknown_person` when
    it is not registered, `not_enrolled` when it was not enrolled that year.
    """
    key = parse_person_ref(ref).key
    person_events = list(app.events.get(app.ids.person(key)))
    if not person_events:
        raise Rejected("unknown_person", f"{ref} is not registered")
    person = _fold(person_events)
    py = person.year(year)
    if py is None:
        raise Rejected("not_enrolled", f"{person.number} is not enrolled for {year}")
    hid = app.ids.household(py.household_head, year)
    household_events = list(app.events.get(hid))
    claim_person = {e.claim_id: e.person for e in household_events
                    if isinstance(e, Household.OutpatientClaimSettled)}
    is_head = py.household_head == key

    chosen: list[tuple[str, Any]] = []  # (the person's key the event is about, event)
    if is_head:
        members: list[str] = []
        for e in household_events:
            chosen.append((_about(e, key, claim_person), e))
            if isinstance(e, Household.MemberJoined) and e.person not in members:
                members.append(e.person)
        for member in members:
            events = (person_events if member == key
                      else list(app.events.get(app.ids.person(member))))
            chosen.extend((member, e) for e in events if _of_year(e, year))
    else:
        members = [key]
        chosen.extend((key, e) for e in person_events if _of_year(e, year))
        claims: set[str] = set()
        for e in household_events:
            if isinstance(e, Household.OutpatientClaimSettled) and e.person == key:
                claims.add(e.claim_id)
                chosen.append((key, e))
            elif isinstance(e, Household.ClaimReversed) and e.claim_id in claims:
                chosen.append((key, e))
            elif isinstance(e, Household.MemberJoined | Household.MemberCovered
                            | Household.MemberSuspended | Household.MemberLeft) and e.person == key:
                chosen.append((key, e))

    positions = event_positions(app, [e for _, e in chosen])
    entries = [_entry(e, about, positions, policies, claim_person) for about, e in chosen]
    entries.sort(key=lambda x: (x["position"] is None, x["position"] or 0, x["recorded_at"]))
    return {
        "person": person.number,
        "year": year,
        "scope": "household" if is_head else "person",
        "household_head": number_of(py.household_head),
        "household": str(hid),
        "region": py.region,
        "members": [number_of(m) for m in members],
        "entries": entries,
    }


# --- reading the store ---------------------------------------------------------------------


def event_positions(app: Any, events: Iterable[Any]) -> dict[tuple[UUID, int], int]:
    """The notification id (log position) of each event, by (originator_id, version).

    On SQLite and PostgreSQL the ledger application reads them by aggregate id
    (`LedgerApplication.event_positions`, through the events table's primary key). Any other
    store is read through the library's `select_notifications`, page by page from the start of
    the log until every event is found.
    """
    wanted = {(e.originator_id, e.originator_version) for e in events}
    if not wanted:
        return {}
    found: dict[tuple[UUID, int], int] = {}
    query = getattr(app, "event_positions", None)
    rows = query({i for i, _ in wanted}) if query is not None else None
    if rows is not None:
        for position, oid, version in rows:
            if (oid, version) in wanted:
                found[(oid, version)] = position
        return found
    recorder = app.recorder
    start: int | None = None
    while len(found) < len(wanted):
        page = recorder.select_notifications(start, _PAGE, inclusive_of_start=start is None)
        for n in page:
            k = (UUID(str(n.originator_id)), n.originator_version)
            if k in wanted:
                found[k] = n.id
        if len(page) < _PAGE:
            break
        start = page[-1].id
    return found


def _fold(events: list[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def _of_year(e: Any, year: int) -> bool:
    return isinstance(e, Person.Registered) or getattr(e, "year", None) == year


def _about(e: Any, head: str, claim_person: dict[str, str]) -> str:
    """Whose fact a household event records: its member, the claimant, else the head."""
    if isinstance(e, Household.ClaimReversed):
        return claim_person.get(e.claim_id, head)
    return getattr(e, "person", None) or head


# --- one entry -----------------------------------------------------------------------------


def _entry(e: Any, about: str, positions: dict[tuple[UUID, int], int], policies: Any,
           claim_person: dict[str, str]) -> dict[str, Any]:
    kind = type(e).__name__
    decided = DECISION_FIELDS.get(kind, ())
    state = {k: v for k, v in vars(e).items() if k not in _META}
    facts = {k: _plain(k, v) for k, v in state.items() if k not in decided}
    decision = {k: _plain(k, state[k]) for k in decided if k in state}
    if isinstance(e, Household.ClaimReversed) and e.claim_id in claim_person:
        facts["person"] = number_of(claim_person[e.claim_id])
    policy_id = getattr(e, "policy_id", None)
    policy_version = getattr(e, "policy_version", None)
    entry: dict[str, Any] = {
        "position": positions.get((e.originator_id, e.originator_version)),
        "recorded_at": e.timestamp.isoformat(),
        "at": _plain("at", getattr(e, "at", None)),
        "kind": kind,
        "aggregate": type(e).__qualname__.split(".")[0].lower(),
        "aggregate_id": str(e.originator_id),
        "version": e.originator_version,
        "person": number_of(about),
        "facts": facts,
        "decision": decision,
        "rule": None,
        "policy_hash": getattr(e, "policy_hash", None),
        "policy_hash_loaded": None,
        "explanation": getattr(e, "explanation", None),
        "because": [],
    }
    if policy_id is None:
        return entry
    entry["rule"] = f"{policy_id}@{policy_version}"
    policy = policies.get(policy_id, policy_version) if policies is not None else None
    if policy is None:
        entry["note"] = (f"the policy {entry['rule']} is not loaded: its seed sentences cannot "
                         "be shown")
        return entry
    entry["policy_hash_loaded"] = policy.content_hash or None
    entry["because"] = [
        _because(e, policy, field, noted_at, source, decides)
        for field, decides in _merged(_fields_read(e, about, policy))
        for noted_at, source in _notes(policy, field)
    ]
    return entry


def _because(e: Any, policy: Policy, field: str, noted_at: str | None, source: str | None,
             decides: list[str]) -> dict[str, Any]:
    """One cited note, and, when its sentence gives a household total as an example of the
    cap, how that example maps to the decision's `pool_cap` (`example`)."""
    entry: dict[str, Any] = {"field": field, "noted_at": noted_at, "source": source,
                             "decides": decides}
    each = policy.outpatient.per_person_cap if policy.outpatient else None
    cap = getattr(e, "pool_cap", None)
    if "pool_cap" in decides and each is not None and isinstance(cap, Money):
        covered = cap.fen // each.fen if each.fen and cap.fen % each.fen == 0 else None
        example = cap_example(source, each, covered)
        if example is not None:
            entry["example"] = example
    return entry


def _merged(read: Read) -> list[tuple[str, list[str]]]:
    """Each field once, with every decided value it bears on, in the order first read."""
    out: dict[str, list[str]] = {}
    for field, decides in read:
        values = out.setdefault(field, [])
        values.extend(d for d in decides if d not in values)
    return list(out.items())


def _plain(name: str, value: Any) -> Any:
    if isinstance(value, str) and name in _PERSON_FIELDS:
        return number_of(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Money):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, CoverageFacts):
        return {"category": value.category, "birth_date": value.birth_date.isoformat(),
                "identity": value.identity, "prior_insured": value.prior_insured,
                "broken_years": value.broken_years, "back_paid_years": value.back_paid_years}
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_plain("", v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(str(k), v) for k, v in value.items()}
    return str(value)



def _notes(policy: Policy, field: str) -> list[tuple[str | None, str | None]]:
    """The seed sentences and assumptions noted for a field, else for its nearest noted parent
    (as `Policy.reference_for` finds them, but every note at that level, sentences first)."""
    parts = field.split(".")
    while parts:
        key = ".".join(parts)
        notes = [(key, text) for k, text in policy.references if k == key]
        notes += [(key, f"assumption: {text}") for k, text in policy.assumptions if k == key]
        if notes:
            return notes
        parts.pop()
    return [(None, None)]


# --- which policy fields each decision read --------------------------------------------------

Read = list[tuple[str, tuple[str, ...]]]


def _fields_read(e: Any, about: str, p: Policy) -> Read:
    if isinstance(e, Person.Enrolled):
        read = _contribution_fields(p, e.category, e.birth_date, e.identity, e.subsidy_basis)
        read += _enrollment_day_fields(p, e.at.date(), e.category)
        if e.household_head != about and p.household.head_must_pay_first:
            read.append(("household.head_must_pay_first", ("admitted",)))
        if e.covered_from is not None:
            facts = CoverageFacts(e.category, e.birth_date, e.identity, e.prior_insured,
                                  e.broken_years, e.back_paid_years)
            read += _coverage_fields(p, facts, e.at.date())
        if e.fiscal is not None:
            read.append(("contribution.fiscal", ("fiscal",)))
        return read
    if isinstance(e, Person.ContributionPaid):
        read = _acceptance_fields(p, e.accepted_in)
        if e.channel in p.payment.online_channels:
            read.append(("payment.online_channels", ("admitted",)))
            if e.payer != about and p.payment.self_pay_online_ages is not None:
                read.append(("payment.self_pay_online_ages", ("admitted",)))
        if e.covered_from is not None:
            read += _coverage_fields(p, e.coverage_facts, e.at.date())
        return read
    if isinstance(e, Person.SubsidyGranted):
        facts = e.coverage_facts
        read = _contribution_fields(p, facts.category, facts.birth_date, e.identity,
                                    e.subsidy_basis)
        if e.covered_from is not None:
            read += _coverage_fields(p, facts, e.at.date())
        return read
    if isinstance(e, Person.Refunded):
        read = [("refund.deadline", ("admitted",))]
        if e.reason == "subsidy_eligibility":
            read.append(("refund.requests_within_deadline", ("admitted",)))
        return read
    if isinstance(e, Household.OutpatientClaimSettled):
        read = [("outpatient.excluded_causes", ("admitted",)),
                ("outpatient.max_facility_level", ("admitted",)),
                ("outpatient.in_county_only", ("admitted",))]
        if p.outpatient.deductible.is_positive():
            read.append(("outpatient.deductible", ("eligible_expense",)))
        read += [("outpatient.ratio", ("reimbursable", "reimbursed")),
                 ("outpatient.per_person_cap", ("pool_cap", "reimbursed",
                                                "pool_remaining_after")),
                 ("outpatient.pooling", ("pooling", "pool_cap", "reimbursed"))]
        return read
    if isinstance(e, Household.Formed) and e.per_person_cap is not None:
        return [("outpatient.per_person_cap", ("per_person_cap",))]
    return []


def _contribution_fields(p: Policy, category: str, birth: date, identity: str | None,
                         basis: str | None) -> Read:
    """As `domain.rules.contribution.decide_contribution` reads the policy."""
    if category == "newborn" and p.newborn.free_in_birth_year and birth.year == p.year:
        read: Read = [("newborn.free_in_birth_year", ("standard", "due"))]
    elif p.contribution.minor is not None:
        minor = age_on(birth, p.year_start) < p.contribution.minor_under_age
        read = [("contribution.minor" if minor else "contribution.individual",
                 ("standard", "due")),
                ("contribution.minor_under_age", ("standard", "due"))]
    else:
        read = [("contribution.individual", ("standard", "due"))]
    if basis is not None and basis.startswith("age_"):
        read.append(("subsidy.full_from_age", ("subsidy", "subsidy_basis", "due")))
    elif basis is not None or identity is not None:
        read.append((f"subsidy.identities.{basis or identity}",
                     ("subsidy", "subsidy_basis", "due")))
    return read


def _enrollment_day_fields(p: Policy, day: date, category: str) -> Read:
    """As `domain.rules.collection.check_enrollment_day` reads the policy."""
    read: Read = [("collection.windows", ("admitted",))]
    ends = [w.end for w in p.windows if category in w.categories]
    if p.late.until is not None and (not ends or day > max(ends)):
        read.append(("late.until", ("admitted",)))
    return read


def _acceptance_fields(p: Policy, accepted_in: str) -> Read:
    """As `domain.rules.collection.accept_payment_day` reads the policy."""
    if accepted_in == "late":
        read: Read = [("late.until", ("accepted_in",)), ("late.categories", ("accepted_in",))]
        if p.late.requires_prior_insurance:
            read.append(("late.requires_prior_insurance", ("accepted_in",)))
        return read
    if accepted_in == "newborn":
        nb = p.newborn
        if nb.free_in_birth_year:
            return [("newborn.free_in_birth_year", ("accepted_in",))]
        read = []
        if nb.from_birth_if_paid_within:
            read.append(("newborn.from_birth_if_paid_within", ("accepted_in",)))
        if nb.from_payment_if_paid_within:
            read.append(("newborn.from_payment_if_paid_within", ("accepted_in",)))
        return read
    return [("collection.windows", ("accepted_in",))]


def _coverage_fields(p: Policy, facts: CoverageFacts, settled_on: date) -> Read:
    """As `domain.rules.coverage.coverage_start` reads the policy."""
    decides = ("covered_from",)
    birth = facts.birth_date
    if is_newborn(p, facts.category, birth):
        nb = p.newborn
        if nb.free_in_birth_year:
            return [("newborn.free_in_birth_year", decides)]
        if nb.from_birth_if_paid_within and settled_on <= add_period(
                birth, nb.from_birth_if_paid_within):
            return [("newborn.from_birth_if_paid_within", decides)]
        if nb.from_payment_if_paid_within and settled_on <= add_period(
                birth, nb.from_payment_if_paid_within):
            return [("newborn.from_payment_if_paid_within", decides)]
    for w in p.windows:
        if facts.category in w.categories and w.start <= settled_on <= w.end:
            return [("collection.windows", decides)]
    ends = [w.end for w in p.windows if facts.category in w.categories]
    if ends and settled_on <= max(ends):
        return [("collection.windows", decides)]
    if p.late.coverage == "payment_date":
        return [("late.coverage", decides)]
    if facts.identity in p.waiting.exempt_identities:
        return [("late.coverage", decides), ("waiting.exempt_identities", decides)]
    read = [("late.coverage", decides), ("waiting.fixed_months", decides),
            ("waiting.variable_months_per_broken_year", decides),
            ("waiting.broken_years_not_counted", decides),
            ("waiting.months_removed_per_back_paid_year", decides)]
    if p.waiting.long_break_years and facts.broken_years >= p.waiting.long_break_years:
        read += [("waiting.long_break_years", decides), ("waiting.long_break_min_months", decides)]
    return read
