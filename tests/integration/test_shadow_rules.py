"""Shadow rules (ADR 86): a candidate rule set decided beside the live ledger, as a read model
rebuilt from the log that never touches the ledger; over the window since it was added its
report equals a what-if's."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from adapters.composition import open_ledger, open_views
from adapters.generator import find_regime, generate_county
from adapters.stores.policy_files import apply_patch, load_policy_book
from adapters.stores.shadows import ShadowError, ShadowStore
from adapters.usecases.shadow import add_shadow, shadow_list, shadow_report
from adapters.usecases.whatif import WhatIfRefused
from adapters.whatif.behaviour import AS_RECORDED
from adapters.whatif.exact import Scope, exact_whatif, read_history
from adapters.whatif.fast import baseline_from_views, fast_whatif
from domain.aggregates import Household
from domain.money import Money
from projections.views import catch_up

BOOK = load_policy_book()
REGIME = "fuyang-2021"
PATCHES = [{"outpatient": {"per_person_cap": "300.00", "ratio": "0.60"}},
           {"contribution": {"individual": "300.00"},
            "outpatient": {"excluded_causes": ["work_injury"]}}]


def _lines(households: int, seed: int) -> list[str]:
    return [json.dumps(c) for c in generate_county(households, REGIME, seed, BOOK)]


@pytest.fixture
def county(new_store: Callable[..., str]):
    """A ledger with half of a county's history, and the other half to come."""
    url = new_store()
    ledger = open_ledger(url, BOOK)
    lines = _lines(24, 11)
    half = len(lines) // 2
    list(ledger.execute_lines(lines[:half], batch_size=97))
    views = open_views(ledger.app, ledger.policies, url)
    yield ledger, views, lines[half:]
    views.engine.dispose()
    ledger.app.close()


@pytest.mark.parametrize("patch", PATCHES, ids=["cap-and-ratio", "contribution-and-causes"])
def test_a_shadow_report_over_a_window_equals_a_whatif_over_the_same_window(
        county, patch: dict) -> None:
    ledger, views, rest = county
    shadows = ShadowStore(views.engine)
    policy = find_regime(BOOK, REGIME)
    shadow = add_shadow(ledger.app, shadows, BOOK, "candidate", patch, "patch",
                        policy.region, policy.year)
    list(ledger.execute_lines(rest, batch_size=97))
    report = shadow_report(ledger.app, shadows, BOOK, "candidate")

    scope = Scope(policy.region, policy.year)
    reform = apply_patch(BOOK, patch, "patch", scope.region, scope.year)
    history = read_history(ledger.app, BOOK, scope)
    exact = exact_whatif(history, reform, AS_RECORDED)
    catch_up(ledger.app, views)
    fast = fast_whatif(views.engine, scope, baseline_from_views(views.engine, scope), reform,
                       patch, ledger.app)
    window = [rc.primary.claim_id for rc in history.commands
              if isinstance(rc.primary, Household.OutpatientClaimSettled)
              and rc.position > shadow.added_position]
    assert window and report["totals"]["claims_decided"] == len(window)
    for side in (exact, fast):
        differ = [c for c in window if side.claims[c][:4] != history.baseline.claims[c][:4]]
        assert [c["claim_id"] for c in report["claims"]] == differ
        delta = sum(side.claims[c][3] - history.baseline.claims[c][3] for c in differ)
        assert report["totals"]["delta_reimbursed"] == str(Money(delta))
    assert report["totals"]["claims_divergent"] > 0
    assert sum(h["claims"] for h in report["households"]) == len(report["claims"])


def test_a_shadow_never_touches_the_ledger_and_rebuilds_its_rows_from_the_log(county) -> None:
    ledger, views, rest = county
    shadows = ShadowStore(views.engine)
    add_shadow(ledger.app, shadows, BOOK, "cap", PATCHES[0], "patch", None, None)
    list(ledger.execute_lines(rest, batch_size=97))
    head = ledger.app.recorder.max_notification_id()
    first = shadow_report(ledger.app, shadows, BOOK, "cap")
    assert ledger.app.recorder.max_notification_id() == head
    assert shadow_list(ledger.app, shadows)[0]["behind"] == 0
    shadows.forget_rows()
    assert shadow_list(ledger.app, shadows)[0]["behind"] > 0
    assert shadow_report(ledger.app, shadows, BOOK, "cap") == first
    assert ledger.app.recorder.max_notification_id() == head


def test_a_shadow_is_refused_a_taken_or_malformed_name_an_unknown_one_or_a_bad_patch(
        county) -> None:
    ledger, views, _rest = county
    shadows = ShadowStore(views.engine)
    add_shadow(ledger.app, shadows, BOOK, "cap", PATCHES[0], "patch", None, None)
    for name, reason in (("cap", "shadow_exists"), ("Bad Name", "invalid_input")):
        with pytest.raises(ShadowError) as refused:
            add_shadow(ledger.app, shadows, BOOK, name, PATCHES[0], "patch", None, None)
        assert refused.value.reason == reason
    with pytest.raises(ShadowError) as unknown:
        shadow_report(ledger.app, shadows, BOOK, "nothing")
    assert unknown.value.reason == "unknown_shadow"
    with pytest.raises(WhatIfRefused):
        add_shadow(ledger.app, shadows, BOOK, "bad", {"outpatient": {"ratio": "1.7"}},
                   "patch", None, None)
    shadows.remove("cap")
    assert shadows.list() == []
