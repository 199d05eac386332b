"""Views rebuilt in parts (ADR 80) hold exactly the rows of views rebuilt in one pass, every
table and every position, on random histories and generated counties, in any number of parts,
whole or one view at a time."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.application.partitions import plan_of, run_apart
from adapters.composition import open_ledger, open_views
from adapters.stores.policy_files import load_policy_book
from adapters.usecases.views import rebuild, rebuild_in_parts, views_in_process
from projections import tables as t
from tests.properties.test_view_properties import snapshot
from tests.support.stores import county_ledger, stores
from tests.support.strategies import histories

BOOK = load_policy_book()
QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
REGIMES = ("fuyang-2021", "gaizhou-2025", "hunan-2024", "lishui-2020")


def both_ways(url: str, parts: int, names: list[str]) -> tuple[dict, dict, int]:
    """The views rebuilt in one pass, then in parts: each time every table's rows."""
    ledger = open_ledger(url, BOOK)
    views = open_views(ledger.app, BOOK, url)
    scratch = open_views(ledger.app, BOOK, "memory://")
    try:
        rebuild(ledger.app, views, names)
        whole = snapshot(views.engine), views.positions()
        plan = plan_of(ledger.app, parts)
        runner = views_in_process(ledger.app, scratch, tuple(names))
        run_apart(plan, runner)  # every part folds (no fall-back to one pass hides a failure)
        _, folded = rebuild_in_parts(ledger.app, views, names, plan, runner)
        assert folded == len(plan.parts)
        return whole, (snapshot(views.engine), views.positions()), len(plan.parts)
    finally:
        scratch.engine.dispose()
        views.engine.dispose()
        ledger.app.close()


@settings(max_examples=20, deadline=None, suppress_health_check=QUIET)
@given(commands=histories(), parts=st.integers(1, 5),
       names=st.sampled_from([list(t.VIEWS), *([v] for v in t.VIEWS)]))
def test_views_rebuilt_in_parts_from_a_random_history_equal_one_rebuild(
        commands: list[dict], parts: int, names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, stores("sqlite", Path(tmp)) as made:
        url = made.new()
        ledger = open_ledger(url, BOOK)
        list(ledger.execute_lines([json.dumps(c) for c in commands], batch_size=7))
        ledger.app.close()
        whole, split, _ = both_ways(url, parts, names)
        assert split == whole


@settings(max_examples=15, deadline=None, suppress_health_check=QUIET)
@given(regime=st.sampled_from(REGIMES), seed=st.integers(0, 10_000),
       households=st.integers(2, 10), parts=st.integers(2, 5))
def test_views_rebuilt_in_parts_from_a_county_equal_one_rebuild(
        regime: str, seed: int, households: int, parts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, stores("sqlite", Path(tmp)) as made:
        url = made.new()
        ledger = county_ledger(url, BOOK, regime, seed, households)
        ledger.app.close()
        whole, split, planned = both_ways(url, parts, list(t.VIEWS))
        assert split == whole
        assert planned > 1  # households are apart: the rows came from several parts
