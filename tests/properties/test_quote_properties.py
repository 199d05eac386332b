"""A quote is the claim's own decision, dry: the identical claim right after gives its figures."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings

from adapters.application.ledger import Ledger
from adapters.stores.events import LedgerApplication
from tests.support.strategies import histories, visits

FIGURES = ("status", "reason", "eligible_expense", "reimbursable", "reimbursed", "pool_cap",
           "pool_used_before", "pool_remaining_after", "rule")


def run(ledger: Ledger, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(ledger.execute_lines([json.dumps(c) for c in commands]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), visit=visits)
def test_a_quote_followed_by_the_identical_claim_gives_the_same_figures(book, history, visit):
    ledger = Ledger(LedgerApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), book)
    run(ledger, history)
    before = ledger.app.recorder.max_notification_id()
    quote = run(ledger, [dict(visit, op="quote", claim_id="fresh-claim")])[0]
    assert ledger.app.recorder.max_notification_id() == before
    claim = run(ledger, [dict(visit, op="claim", claim_id="fresh-claim")])[0]
    assert {k: quote.get(k) for k in FIGURES} == {k: claim.get(k) for k in FIGURES}
    assert (ledger.app.recorder.max_notification_id() > before) == (claim["status"] == "ok")
