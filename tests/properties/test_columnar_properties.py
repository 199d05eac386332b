"""The fast what-if reads the same history from the columnar store as from the SQL views:
every claim's outcome, the households, the person-years and the summary alike, however the
store was caught up (in random steps, with random batch sizes), on SQLite and on PostgreSQL.

Histories are generated counties of a random regime and seed (with their reversals, late
payments, refunds and members who leave); patches change random outpatient keys.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.stores.columnar import ColumnarStore
from adapters.stores.columnar.catchup import catch_up
from adapters.stores.columnar.store import FILE
from adapters.stores.policy_files import apply_patch
from adapters.usecases.whatif import run_whatif
from adapters.whatif.exact import Scope
from adapters.whatif.outputs import household_rows
from tests.properties.test_whatif_properties import BOOK, EXAMPLES, REGIMES, county
from tests.support.stores import examples_on, stores
from tests.support.strategies import claims_only_patches

QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


def test_the_columnar_store_and_the_views_give_the_same_whatif(store_kind: str) -> None:
    @settings(max_examples=examples_on(store_kind, EXAMPLES), deadline=None,
              suppress_health_check=QUIET)
    @given(regime=st.sampled_from(REGIMES), seed=st.integers(0, 10_000),
           households=st.integers(1, 12), patch=claims_only_patches(),
           steps=st.lists(st.floats(0, 1), max_size=3), batch=st.integers(1, 400),
           whole=st.booleans())
    def alike(regime: str, seed: int, households: int, patch: dict, steps: list[float],
              batch: int, whole: bool) -> None:
        same_whatif(store_kind, regime, seed, households, patch, steps, batch, whole)

    alike()


def same_whatif(store_kind: str, regime: str, seed: int, households: int, patch: dict,
                steps: list[float], batch: int, whole: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, stores(store_kind, Path(tmp)) as made:
        ledger, views, scope = county(made.new(), regime, seed, households)
        scope = Scope() if whole else scope
        columnar = ColumnarStore(Path(tmp) / "columnar" / FILE, ledger.app.name)
        head = ledger.app.recorder.max_notification_id()
        for step in sorted(steps):
            catch_up(ledger.app, columnar, stop=int(step * head), personal=views.personal,
                     batch_size=batch)
        reform = apply_patch(BOOK, patch, "patch", scope.region, scope.year)
        by_views = run_whatif(ledger.app, views, BOOK, reform, patch, scope, "fast")
        by_columns = run_whatif(ledger.app, views, BOOK, reform, patch, scope, "fast",
                                columnar=columnar)
        assert columnar.position == head
        assert dict(by_columns.reform.claims) == dict(by_views.reform.claims)
        assert dict(by_columns.baseline.claims) == dict(by_views.baseline.claims)
        assert list(by_columns.reform.claims) == list(by_views.reform.claims)
        assert by_columns.summary == by_views.summary
        assert by_columns.reform.households == by_views.reform.households
        assert by_columns.reform.person_years == by_views.reform.person_years
        assert by_columns.baseline.person_years == by_views.baseline.person_years
        assert by_columns.baseline.households == by_views.baseline.households
        assert by_columns.baseline.policies == by_views.baseline.policies
        assert by_columns.reform.policies == by_views.reform.policies
        assert by_columns.reform.rejected == by_views.reform.rejected
        assert (list(household_rows(by_columns.baseline, by_columns.reform))
                == list(household_rows(by_views.baseline, by_views.reform)))
        columnar.close()
        views.engine.dispose()
        ledger.app.close()
