"""What-if: the recorded history re-decided under patched policies, nothing written.

Two engines give the same per-claim answers to the fen:

- `exact_whatif` replays every recorded command of the scope through the ledger's own
  service and aggregates into a throw-away in-memory store (`adapters.application.replay`);
- `fast_whatif` reads the claims facts and the members' coverage column-wise from the read
  models and settles every claim at once with NumPy (`adapters.whatif.kernel`). When the patch
  changes who is covered from when (anything outside `[outpatient]`), the members' coverage is
  first re-derived by replaying the person-side commands (no claims) through the service.

The baseline is what the ledger recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from attrs import define, field, frozen

from adapters.application.replay import (
    CommandReader,
    LoggedEvent,
    RecordedCommand,
    Replayer,
    in_scope,
    read_log,
)
from adapters.whatif.behaviour import AS_RECORDED, Behaviour, behave
from adapters.whatif.outcomes import ClaimCounts, ClaimTable, HouseholdTable, PersonYearTable
from domain.aggregates import Household, Person
from domain.ids import PUBLIC_IDS, StreamIds
from domain.money import Money
from domain.policy import Policy
from domain.policy_book import PolicyBook

#: Per claim: (reason or None, eligible, reimbursable, reimbursed, cap, used before, left after).
ClaimOutcome = tuple[str | None, int, int, int, int, int, int]
REJECTED_ZERO = (0, 0, 0, 0, 0, 0)


@define
class PersonYearMoney:
    """A person-year's contribution decision, folded from its events."""

    region: str
    due: int = 0
    subsidy: int = 0
    paid: int = 0
    refunded: int = 0
    covered: bool = False
    terminated: bool = False


@define
class HouseholdTotals:
    """A household's pool at the end of the year, one side (baseline or reform)."""

    head: str
    year: int
    region: str
    cap: int = 0
    reimbursed: int = 0
    members: int = 0
    covered: int = 0

    @property
    def at_cap(self) -> bool:
        return self.cap > 0 and self.reimbursed >= self.cap


@define
class Side:
    """Everything one side of the comparison decided."""

    claims: dict[str, ClaimOutcome] = field(factory=dict)
    households: dict[UUID, HouseholdTotals] = field(factory=dict)
    person_years: dict[tuple[str, int], PersonYearMoney] = field(factory=dict)
    policies: set[str] = field(factory=set)
    rejected: Counter = field(factory=Counter)  # (op, reason) of recorded commands refused


@frozen
class Scope:
    region: str | None = None
    year: int | None = None

    def covers(self, region: str, year: int) -> bool:
        return in_scope((region, year), self.region, self.year)

    def __str__(self) -> str:
        return f"region {self.region or 'all'}, year {self.year or 'all'}"


def fold_person_event(side: Side, key: str, e: Any) -> None:
    """Fold one Person event into the side's person-year money."""
    if isinstance(e, Person.Enrolled):
        side.person_years[(key, e.year)] = PersonYearMoney(
            e.region, due=e.due.fen, subsidy=e.subsidy.fen, covered=e.covered_from is not None)
        side.policies.add(f"{e.policy_id}@{e.policy_version}")
        return
    py = side.person_years.get((key, getattr(e, "year", 0)))
    if py is None:
        return
    if isinstance(e, Person.ContributionPaid):
        py.paid += e.amount.fen
        py.covered = py.covered or e.covered_from is not None
    elif isinstance(e, Person.SubsidyGranted):
        py.due, py.subsidy = e.due.fen, e.subsidy.fen
        py.covered = py.covered or e.covered_from is not None
    elif isinstance(e, Person.Refunded):
        py.refunded += e.amount.fen
        if e.terminated:
            py.terminated, py.covered = True, False


def claim_outcome(e: Household.OutpatientClaimSettled) -> ClaimOutcome:
    return (None, e.eligible_expense.fen, e.reimbursable.fen, e.reimbursed.fen, e.pool_cap.fen,
            e.pool_used_before.fen, e.pool_remaining_after.fen)


def _fen(text: str | None) -> int:
    return Money.parse(text).fen if text is not None else 0


def result_outcome(result: Mapping[str, Any]) -> ClaimOutcome:
    """A claim's outcome from a contract result object."""
    if result["status"] != "ok":
        return (result["reason"], *REJECTED_ZERO)
    return (None, _fen(result["eligible_expense"]), _fen(result["reimbursable"]),
            _fen(result["reimbursed"]), _fen(result["pool_cap"]),
            _fen(result["pool_used_before"]), _fen(result["pool_remaining_after"]))


def household_totals(h: Household, policy: Policy | None) -> HouseholdTotals:
    """A household aggregate's pool at the end: cap by its final covered members, under the
    per-person cap it was formed with (or, recorded before that was named, `policy`'s)."""
    covered = len(h.covered_members())
    each = h.cap_each(policy.outpatient.per_person_cap if policy else None)
    cap = h.cap(each).fen if each is not None else 0
    return HouseholdTotals(h.head, h.year, h.region, cap=cap, reimbursed=h.used_total.fen,
                           members=sum(1 for m in h.members.values() if not m.left),
                           covered=covered)


# --- the recorded history, read once ---------------------------------------------------------


@define
class History:
    """The recorded commands of a scope, and the baseline the ledger recorded for them."""

    scope: Scope
    commands: list[RecordedCommand]
    baseline: Side
    households: dict[UUID, tuple[str, int, str]]
    #: How the recorded store names its streams (ADR 25): the replay names them alike.
    ids: StreamIds = PUBLIC_IDS


def read_history(app: Any, book: PolicyBook, scope: Scope, upto: int | None = None) -> History:
    """The scope's recorded commands (registrations of everyone included) and the recorded
    decisions folded into a baseline."""
    return history_of(read_log(app, upto=upto), book, scope, app.ids)


def history_of(log: Iterable[LoggedEvent], book: PolicyBook, scope: Scope,
               ids: StreamIds) -> History:
    """`read_history` of a log's events (the whole log, or one partition's, ADR 54)."""
    reader = CommandReader()
    commands: list[RecordedCommand] = []
    baseline = Side()
    aggregates: dict[UUID, Household] = {}
    keys: dict[UUID, str] = {}
    for rc in reader.group(log):
        if not in_scope(reader.scope_of(rc), scope.region, scope.year):
            continue
        commands.append(rc)
        for le in rc.events:
            e = le.event
            if isinstance(e, Person.Registered):
                keys[e.originator_id] = e.person_key
            elif isinstance(e, Household.Formed):
                aggregates[e.originator_id] = e.mutate(None)
                continue
            elif e.originator_id in keys:
                fold_person_event(baseline, keys[e.originator_id], e)
            elif e.originator_id in aggregates:
                e.apply(aggregates[e.originator_id])
            if isinstance(e, Household.OutpatientClaimSettled):
                baseline.claims[e.claim_id] = claim_outcome(e)
                baseline.policies.add(f"{e.policy_id}@{e.policy_version}")
    for hid, h in aggregates.items():
        baseline.households[hid] = household_totals(h, book.find(h.region, h.year))
    households = {hid: v for hid, v in reader.households.items() if hid in aggregates}
    return History(scope, commands, baseline, households, ids)


# --- the exact engine --------------------------------------------------------------------------


def exact_whatif(history: History, reform: PolicyBook, behaviour: Behaviour = AS_RECORDED
                 ) -> Side:
    """Replay the scope's recorded commands under the reform policies, in memory, as the
    payers would send them (`behaviour`, ADR 81)."""
    return exact_replay(history, reform, behaviour=behaviour)[0]


def exact_replay(history: History, reform: PolicyBook, freeze_gc: bool = False,
                 behaviour: Behaviour = AS_RECORDED) -> tuple[Side, set[UUID]]:
    """`exact_whatif`, and the streams the replay touched (ADR 54)."""
    side = Side()
    replayer = Replayer(reform, ids=history.ids, freeze_gc=freeze_gc)
    keys: dict[UUID, str] = {}
    for step in replayer.run(behave(history.commands, reform, behaviour)):
        primary = step.recorded.primary
        if step.result["status"] != "ok":
            side.rejected[(step.result["op"], step.result["reason"])] += 1
        if isinstance(primary, Household.OutpatientClaimSettled):
            side.claims[primary.claim_id] = result_outcome(step.result)
            if step.result["status"] == "ok":
                side.policies.add(step.result["rule"])
        for e in step.events:
            if isinstance(e, Person.Registered):
                keys[e.originator_id] = e.person_key
            elif e.originator_id in keys:
                fold_person_event(side, keys[e.originator_id], e)
    app = replayer.ledger.app
    for hid in history.households:
        h = app.get_or_none(hid)
        if h is not None:
            side.households[hid] = household_totals(h, reform.find(h.region, h.year))
    return side, app.touched


# --- the report ----------------------------------------------------------------------------------


def _yuan(fen: int) -> str:
    return str(Money(fen))


def _sum(values: Iterable[int]) -> int:
    return sum(values)


def report(scope: Scope, base: Side, reform: Side, engine: str) -> dict[str, Any]:
    """The what-if summary: the contract's fields, then contributions and subsidies."""
    b_total, r_total = _reimbursed(base), _reimbursed(reform)
    n = len(base.households)

    def money(side: Side, attr: str, every: bool = False) -> int:
        if isinstance(side.person_years, PersonYearTable):
            return side.person_years.total(attr, every)
        return _sum(getattr(py, attr) for py in side.person_years.values()
                    if every or not py.terminated)

    def covered(side: Side) -> int:
        if isinstance(side.person_years, PersonYearTable):
            return side.person_years.covered()
        return sum(1 for p in side.person_years.values() if p.covered)

    def share(k: int) -> str | None:
        return f"{k / n:.4f}" if n else None

    at_cap_b, at_cap_r = _at_cap(base), _at_cap(reform)
    # counted in their regions (ADR 121), or held as columns: counted without listing them
    table = reform.claims if isinstance(reform.claims, ClaimTable | ClaimCounts) else None
    rejected = (table.reason_counts() if table is not None
                else Counter(o[0] for o in reform.claims.values() if o[0] is not None))
    changed = table.changed_against(base.claims) if table is not None else None
    if changed is None:
        changed = sum(1 for cid, o in reform.claims.items() if base.claims.get(cid) != o)
    out: dict[str, Any] = {
        "scope": {"region": scope.region, "year": scope.year},
        "claims": len(base.claims),
        "households": n,
        "baseline_reimbursed": _yuan(b_total),
        "reform_reimbursed": _yuan(r_total),
        "delta_reimbursed": _yuan(r_total - b_total),
        "households_at_cap_baseline": at_cap_b,
        "households_at_cap_reform": at_cap_r,
        "share_at_cap_baseline": share(at_cap_b),
        "share_at_cap_reform": share(at_cap_r),
        "claims_changed": changed,
        "claims_rejected_reform": dict(sorted(rejected.items())),
        "commands_rejected_reform": {f"{op}:{reason}": k for (op, reason), k
                                     in sorted(reform.rejected.items())},
        "person_years": len(base.person_years),
        "covered_baseline": covered(base),
        "covered_reform": covered(reform),
        "contributions_due_baseline": _yuan(money(base, "due")),
        "contributions_due_reform": _yuan(money(reform, "due")),
        "contributions_paid_baseline": _yuan(money(base, "paid") - money(base, "refunded")),
        "contributions_paid_reform": _yuan(money(reform, "paid") - money(reform, "refunded")),
        # the fund report's base (ADR 74): gross, every person-year, refunds apart
        "contributions_gross_baseline": _yuan(money(base, "paid", every=True)),
        "contributions_gross_reform": _yuan(money(reform, "paid", every=True)),
        "refunds_baseline": _yuan(money(base, "refunded", every=True)),
        "refunds_reform": _yuan(money(reform, "refunded", every=True)),
        "subsidy_cost_baseline": _yuan(money(base, "subsidy")),
        "subsidy_cost_reform": _yuan(money(reform, "subsidy")),
        "delta_subsidy_cost": _yuan(money(reform, "subsidy") - money(base, "subsidy")),
        "policies_baseline": sorted(base.policies),
        "policies_reform": sorted(reform.policies),
        "engine": engine,
    }
    return out


def _reimbursed(side: Side) -> int:
    if isinstance(side.households, HouseholdTable):
        return side.households.reimbursed_total()
    return _sum(h.reimbursed for h in side.households.values())


def _at_cap(side: Side) -> int:
    if isinstance(side.households, HouseholdTable):
        return side.households.at_cap_count()
    return sum(1 for h in side.households.values() if h.at_cap)


def compare_claims(a: Mapping[str, ClaimOutcome], b: Mapping[str, ClaimOutcome]
                   ) -> list[dict[str, Any]]:
    """Every claim on which two engines disagree."""
    out = []
    for cid in sorted(set(a) | set(b)):
        if a.get(cid) != b.get(cid):
            out.append({"claim_id": cid, "exact": a.get(cid), "fast": b.get(cid)})
    return out
