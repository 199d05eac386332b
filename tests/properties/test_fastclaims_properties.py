"""Properties: the column-wise claims kernel agrees to the fen with the ledger's own rule."""

from __future__ import annotations

from decimal import Decimal

import attrs
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.whatif.kernel import (
    ClaimColumns,
    ClaimResults,
    half_up_times,
    ratio_fraction,
    settle_columns,
)
from domain.money import Money
from tests.support.builders import patched_policy
from tests.support.oracles import settle_rows_reference
from tests.support.strategies import claim_tables

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_same(fast: ClaimResults, slow: ClaimResults) -> None:
    for field in attrs.fields(ClaimResults):
        got, want = getattr(fast, field.name), getattr(slow, field.name)
        assert got.dtype == want.dtype, field.name
        assert got.tolist() == want.tolist(), field.name


@SETTINGS
@given(table=claim_tables())
def test_the_kernel_agrees_with_the_ledger_rule_on_every_row(table):
    policies, columns, claims, after = table
    fast = settle_columns(columns, policies, claims, after)
    slow = settle_rows_reference(columns, policies, claims, after)
    assert_same(fast, slow)
    assert (fast.reimbursed <= fast.reimbursable).all()
    assert (fast.reimbursed >= 0).all() and (fast.pool_remaining_after >= 0).all()


@SETTINGS
@given(table=claim_tables())
def test_the_kernel_agrees_without_reversals_and_never_pays_past_the_cap(table):
    policies, columns, _, _ = table
    fast = settle_columns(columns, policies)
    assert_same(fast, settle_rows_reference(columns, policies))
    paid = fast.reimbursed > 0
    assert (fast.pool_used_before[paid] + fast.reimbursed[paid] <= fast.pool_cap[paid]).all()


@SETTINGS
@given(table=claim_tables(), seed=st.integers(0, 2**32 - 1))
def test_the_order_of_other_households_claims_does_not_change_a_households_results(table,
                                                                                   seed):
    policies, columns, _, _ = table
    rng = np.random.default_rng(seed)
    keys = rng.permutation(len(columns))
    for h in np.unique(columns.household):
        rows = np.flatnonzero(columns.household == h)
        keys[rows] = np.sort(keys[rows])  # each household keeps its own settlement order
    order = np.argsort(keys)
    shuffled = ClaimColumns(**{f.name: getattr(columns, f.name)[order]
                               for f in attrs.fields(ClaimColumns)})
    base = settle_columns(columns, policies)
    moved = settle_columns(shuffled, policies)
    for field in attrs.fields(ClaimResults):
        assert getattr(moved, field.name).tolist() == getattr(base, field.name)[order].tolist()


@SETTINGS
@given(fen=st.integers(0, 10**12), ratio=st.decimals(0, 1, places=4))
def test_the_exact_fraction_rounds_half_up_as_money_times(fen, ratio):
    policy = patched_policy(0, (("ratio", str(ratio)),))
    num, den = ratio_fraction(policy)
    assert half_up_times(fen, num, den) == Money(fen).times(Decimal(ratio)).fen
