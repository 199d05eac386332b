"""The partitioned re-decision (ADR 54) finds exactly what the single-process one finds —
the same counts, the same problems in the same order — on random histories and generated
counties, honest or tampered with behind the ledger's back, in any number of parts."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.application.partitions import plan_of
from adapters.composition import open_ledger, open_store
from adapters.generator import find_regime
from adapters.stores.policy_files import apply_patch, load_policy_book
from adapters.usecases.decisions import (
    in_process,
    verify_decisions,
    verify_partitioned,
)
from adapters.whatif.exact import Scope, exact_whatif, read_history
from adapters.whatif.fast import timeline_by_replay
from adapters.whatif.partitioned import (
    exact_partitioned,
    timeline_in_process,
    timeline_partitioned,
)
from adapters.whatif.partitioned import in_process as whatif_in_process
from tests.support.stores import county_ledger, stores, tamper
from tests.support.strategies import histories, policy_patches, tamperings

BOOK = load_policy_book()
EXAMPLES = int(os.environ.get("PARTITION_EXAMPLES", "25"))
QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
REGIMES = ("fuyang-2021", "gaizhou-2025", "hunan-2024", "lishui-2020")


def outcome(check: Any) -> Any:
    """What a check gives: its findings, or the kind of error it stops with."""
    try:
        found = check()
    except Exception as e:  # a store damaged so that the log cannot be read back at all
        return ("stopped", type(e).__name__)
    if any(p["kind"] == "replay_stopped" for p in found.problems):
        # One replay of the whole log stops counting there; parts count on (ADR 54): the
        # problems still agree, up to and including the stop.
        return "replay_stopped", found.problems
    return found.checked, found.problems


def both_ways(url: str, edits: list, parts: int) -> tuple[Any, Any, int]:
    tamper(url, edits)
    app = open_store(url)
    try:
        single = outcome(lambda: verify_decisions(app, BOOK))
        split = outcome(lambda: verify_partitioned(plan_of(app, parts), in_process(app, BOOK)))
        return single, split, len(plan_of(app, parts).parts)
    finally:
        app.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=QUIET)
@given(commands=histories(), edits=tamperings, parts=st.integers(1, 5))
def test_partitions_of_a_random_history_find_what_the_whole_replay_finds(
        commands: list[dict], edits: list, parts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, stores("sqlite", Path(tmp)) as made:
        url = made.new()
        ledger = open_ledger(url, BOOK)
        list(ledger.execute_lines([json.dumps(c) for c in commands], batch_size=7))
        ledger.app.close()
        single, split, _ = both_ways(url, edits, parts)
        assert split == single


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=QUIET)
@given(regime=st.sampled_from(REGIMES), seed=st.integers(0, 10_000),
       households=st.integers(2, 10), edits=tamperings, parts=st.integers(2, 5))
def test_partitions_of_a_tampered_county_find_what_the_whole_replay_finds(
        regime: str, seed: int, households: int, edits: list, parts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, stores("sqlite", Path(tmp)) as made:
        url = made.new()
        ledger = county_ledger(url, BOOK, regime, seed, households)
        ledger.app.close()
        single, split, planned = both_ways(url, edits, parts)
        assert split == single
        assert planned > 1 or edits  # households are apart unless an edit joined them


@settings(max_examples=max(1, EXAMPLES // 2), deadline=None, suppress_health_check=QUIET)
@given(regime=st.sampled_from(REGIMES), seed=st.integers(0, 10_000),
       households=st.integers(2, 10), patch=policy_patches(), parts=st.integers(2, 5))
def test_an_exact_what_if_in_parts_gives_both_sides_of_the_whole_replay(
        regime: str, seed: int, households: int, patch: dict, parts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, stores("sqlite", Path(tmp)) as made:
        url = made.new()
        ledger = county_ledger(url, BOOK, regime, seed, households)
        app = ledger.app
        scope = Scope(find_regime(BOOK, regime).region, None)
        reform = apply_patch(BOOK, patch, "patch", scope.region, scope.year)
        history = read_history(app, BOOK, scope)
        whole = exact_whatif(history, reform)
        baseline, split = exact_partitioned(plan_of(app, parts),
                                            whatif_in_process(app, BOOK, reform, scope))
        assert baseline == history.baseline and split == whole
        assert list(split.claims) == list(whole.claims)
        app.close()


@settings(max_examples=max(1, EXAMPLES // 2), deadline=None, suppress_health_check=QUIET)
@given(regime=st.sampled_from(REGIMES), seed=st.integers(0, 10_000),
       households=st.integers(2, 10), patch=policy_patches(), parts=st.integers(2, 5))
def test_coverage_re_derived_in_parts_is_the_whole_replays_timeline(
        regime: str, seed: int, households: int, patch: dict, parts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, stores("sqlite", Path(tmp)) as made:
        url = made.new()
        ledger = county_ledger(url, BOOK, regime, seed, households)
        app = ledger.app
        scope = Scope(find_regime(BOOK, regime).region, None)
        reform = apply_patch(BOOK, patch, "patch", scope.region, scope.year)
        timeline, side = timeline_by_replay(app, scope, reform, app.personal)
        split, split_side = timeline_partitioned(
            plan_of(app, parts), timeline_in_process(app, reform, scope, app.personal))
        assert split.rows == timeline.rows and list(split.rows) == list(timeline.rows)
        assert split_side == side
        app.close()


def test_the_commands_read_before_an_unreadable_event_are_still_re_decided_whole_or_in_parts(
        ) -> None:
    # Found by the property above: two deleted events; the whole log's replay read every
    # command into one batch, met an event it cannot read as a command's at the end, and
    # stopped without re-deciding the batch, so the enrollment that lost an event was not
    # reported, while its part, replayed apart, reported it.
    with tempfile.TemporaryDirectory() as tmp, stores("sqlite", Path(tmp)) as made:
        url = made.new()
        ledger = county_ledger(url, BOOK, "gaizhou-2025", 0, 9)
        ledger.app.close()
        edits = [("delete", 0.023634577631987064, 0.38655710476146987),
                 ("delete", 0.4209186792090759, 0.18803930475131292)]
        single, split, _ = both_ways(url, edits, 3)
        assert split == single
        kinds = [p["kind"] for p in single[1]]
        assert kinds[-1] == "replay_stopped" and "events_differ" in kinds[:-1]
