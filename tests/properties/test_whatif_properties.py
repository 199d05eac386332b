"""The two what-if engines agree to the fen, and the empty patch gives back the record (and
the audit finds every recorded decision of every such history re-decided alike), on SQLite and
on PostgreSQL.

Histories are generated counties of a random regime and seed; patches change random
outpatient keys and, sometimes, the rules that decide who is covered from when.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.composition import open_ledger, open_views
from adapters.generator import find_regime, generate_county
from adapters.stores.policy_files import apply_patch, load_policy_book
from adapters.usecases.audit import verify_decisions
from adapters.whatif.exact import Scope, compare_claims, exact_whatif, read_history, report
from adapters.whatif.fast import baseline_from_views, fast_whatif
from projections.views import catch_up
from tests.support.stores import examples_on, stores
from tests.support.strategies import policy_patches

BOOK = load_policy_book()
#: More examples for a deeper run: WHATIF_EXAMPLES=500 pytest tests/properties/…
EXAMPLES = int(os.environ.get("WHATIF_EXAMPLES", "30"))
REGIMES = ("fuyang-2021", "gaizhou-2025", "hunan-2024", "yangcheng-2022", "lishui-2020")


def county(url: str, regime: str, seed: int, households: int):
    ledger = open_ledger(url, BOOK)
    lines = [json.dumps(c) for c in generate_county(households, regime, seed, BOOK)]
    list(ledger.execute_lines(lines, batch_size=97))
    views = open_views(ledger.app, ledger.policies, url)
    catch_up(ledger.app, views)
    policy = find_regime(BOOK, regime)
    return ledger, views, Scope(policy.region, policy.year)


#: Each example makes its own store (the store kind is a plain parameter, not shared state).
QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


def test_the_fast_and_the_exact_engine_settle_every_claim_alike(store_kind: str) -> None:
    @settings(max_examples=examples_on(store_kind, EXAMPLES), deadline=None,
              suppress_health_check=QUIET)
    @given(regime=st.sampled_from(REGIMES), seed=st.integers(0, 10_000),
           households=st.integers(1, 12), patch=policy_patches())
    def alike(regime: str, seed: int, households: int, patch: dict) -> None:
        engines_alike(store_kind, regime, seed, households, patch)

    alike()


def engines_alike(store_kind: str, regime: str, seed: int, households: int,
                  patch: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp, stores(store_kind, Path(tmp)) as made:
        ledger, views, scope = county(made.new(), regime, seed, households)
        reform = apply_patch(BOOK, patch, "patch", scope.region, scope.year)
        history = read_history(ledger.app, BOOK, scope)
        exact = exact_whatif(history, reform)
        baseline = baseline_from_views(views.engine, scope)
        fast = fast_whatif(views.engine, scope, baseline, reform, patch, ledger.app)
        assert compare_claims(exact.claims, fast.claims) == []
        assert report(scope, history.baseline, exact, "e") == report(scope, baseline, fast, "e")
        views.engine.dispose()
        ledger.app.close()


def test_the_empty_patch_reproduces_the_recorded_decisions_exactly(store_kind: str) -> None:
    @settings(max_examples=examples_on(store_kind, max(1, EXAMPLES // 3)), deadline=None,
              suppress_health_check=QUIET)
    @given(regime=st.sampled_from(REGIMES), seed=st.integers(0, 10_000),
           households=st.integers(1, 12))
    def reproduced(regime: str, seed: int, households: int) -> None:
        empty_patch_reproduces(store_kind, regime, seed, households)

    reproduced()


def empty_patch_reproduces(store_kind: str, regime: str, seed: int, households: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, stores(store_kind, Path(tmp)) as made:
        ledger, views, scope = county(made.new(), regime, seed, households)
        reform = apply_patch(BOOK, {}, "patch", scope.region, scope.year)
        history = read_history(ledger.app, BOOK, scope)
        exact = exact_whatif(history, reform)
        baseline = baseline_from_views(views.engine, scope)
        fast = fast_whatif(views.engine, scope, baseline, reform, {}, ledger.app)
        assert exact.claims == history.baseline.claims
        assert fast.claims == baseline.claims == history.baseline.claims
        assert {k: v.reimbursed for k, v in exact.households.items()} == {
            k: v.reimbursed for k, v in history.baseline.households.items()}
        assert report(scope, history.baseline, exact, "e")["delta_reimbursed"] == "0.00"
        assert verify_decisions(ledger.app, BOOK).problems == []
        views.engine.dispose()
        ledger.app.close()
