"""Shadow rules as use cases (ADR 86): add one (its patch checked as a what-if's), bring its
rows up to the log, report what it decided differently since it was added."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from adapters.stores.shadows import Divergence, Shadow, ShadowStore
from adapters.usecases.whatif import reform_of
from adapters.whatif.behaviour import Behaviour
from adapters.whatif.exact import Scope, exact_whatif, read_history
from domain.aggregates import Household
from domain.identity import mask_number, number_of
from domain.money import Money
from domain.policy_book import PolicyBook
from domain.rules.behaviour import BEHAVIOURS, RECORDED


def head_of(app: Any) -> int:
    return app.recorder.max_notification_id() or 0


def add_shadow(app: Any, shadows: ShadowStore, book: PolicyBook, name: str,
               patch: Mapping[str, Any], source: str, region: str | None, year: int | None,
               behaviour: str = RECORDED) -> Shadow:
    """A new shadow, deciding from the log's head on (WhatIfRefused for a patch a what-if
    would refuse; ShadowError for a name taken or malformed)."""
    from adapters.stores.shadows import ShadowError

    if behaviour not in BEHAVIOURS:
        raise ShadowError("invalid_input", f"behaviour must be one of {', '.join(BEHAVIOURS)}; "
                          f"got {behaviour!r}")
    reform_of(book, patch, source, region, year)
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return shadows.add(name, dict(patch), source, region, year, behaviour, head_of(app), at)


def caught_up(app: Any, shadows: ShadowStore, book: PolicyBook, shadow: Shadow) -> Shadow:
    """The shadow with its rows folded up to the log's head: the scope replayed under its
    rules (the exact engine), the claims recorded since it was added kept where it decided
    otherwise: another reason, or other eligible, reimbursable or reimbursed amounts (a
    different cap or pool balance alone is not a different decision of the claim)."""
    head = head_of(app)
    if shadow.position >= head:
        return shadow
    scope = Scope(shadow.region, shadow.year)
    reform = reform_of(book, shadow.patch, shadow.source, shadow.region, shadow.year)
    history = read_history(app, book, scope, upto=head)
    side = exact_whatif(history, reform, Behaviour(shadow.behaviour))
    rows, claims = [], 0
    for rc in history.commands:
        e = rc.primary
        if not isinstance(e, Household.OutpatientClaimSettled) or \
                rc.position <= shadow.added_position:
            continue
        claims += 1
        recorded, decided = history.baseline.claims[e.claim_id], side.claims.get(e.claim_id)
        if decided is None or decided[:4] != recorded[:4]:
            head_key, year, region = history.households.get(e.originator_id, ("", 0, ""))
            rows.append(Divergence(e.claim_id, rc.position, str(e.originator_id), head_key,
                                   region, year, recorded, decided or ("not_decided",)))
    shadows.replace(shadow.name, rows, head, claims)
    return shadows.get(shadow.name)


def _yuan(fen: int) -> str:
    return str(Money(fen))


def _outcome(o: tuple) -> dict[str, Any]:
    return {"reason": o[0], "reimbursed": _yuan(o[3] if len(o) > 3 else 0)}


def shadow_report(app: Any, shadows: ShadowStore, book: PolicyBook, name: str
                  ) -> dict[str, Any]:
    """What the shadow decided differently since it was added: per claim, per household and
    in total (heads' ID numbers masked)."""
    shadow = caught_up(app, shadows, book, shadows.get(name))
    rows = shadows.divergences(name)
    claims, households = [], {}
    for d in rows:
        was, now = d.recorded[3] if len(d.recorded) > 3 else 0, \
            d.shadow[3] if len(d.shadow) > 3 else 0
        claims.append({"claim_id": d.claim_id, "position": d.position, "region": d.region,
                       "year": d.year, "recorded": _outcome(d.recorded),
                       "shadow": _outcome(d.shadow), "delta": _yuan(now - was)})
        h = households.setdefault(d.household_id, {
            "head": mask_number(number_of(d.head)) if d.head else None, "region": d.region,
            "year": d.year, "claims": 0, "recorded_reimbursed": 0, "shadow_reimbursed": 0})
        h["claims"] += 1
        h["recorded_reimbursed"] += was
        h["shadow_reimbursed"] += now
    was = sum(h["recorded_reimbursed"] for h in households.values())
    now = sum(h["shadow_reimbursed"] for h in households.values())
    by_household = [{**h, "recorded_reimbursed": _yuan(h["recorded_reimbursed"]),
                     "shadow_reimbursed": _yuan(h["shadow_reimbursed"]),
                     "delta": _yuan(h["shadow_reimbursed"] - h["recorded_reimbursed"])}
                    for h in sorted(households.values(),
                                    key=lambda h: (h["region"], h["head"] or ""))]
    refused = Counter(d.shadow[0] for d in rows if d.shadow[0] is not None)
    return {
        "shadow": shadow.as_dict(),
        "window": {"from_position": shadow.added_position + 1, "to_position": shadow.position},
        "totals": {"claims_decided": shadow.claims, "claims_divergent": len(rows),
                   "households_divergent": len(households),
                   "recorded_reimbursed": _yuan(was), "shadow_reimbursed": _yuan(now),
                   "delta_reimbursed": _yuan(now - was),
                   "shadow_refusals": dict(sorted(refused.items()))},
        "households": by_household,
        "claims": claims,
    }


def shadow_list(app: Any, shadows: ShadowStore) -> list[dict[str, Any]]:
    """Every shadow, with how far behind the log its rows are."""
    head = head_of(app)
    return [{**s.as_dict(), "behind": max(head - s.position, 0)} for s in shadows.list()]
