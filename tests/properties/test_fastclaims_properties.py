"""Properties: the column-wise claims kernel agrees to the fen with the ledger's own rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache

import attrs
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.stores.policy_files import load_policy_book
from adapters.whatif.kernel import (
    ClaimColumns,
    ClaimResults,
    half_up_times,
    ratio_fraction,
    settle_columns,
)
from domain.money import Money
from domain.policy import CAUSES, Policy
from domain.policy_parsing import merge, policy_from_mapping
from tests.support.oracles import settle_rows_reference

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

BOOK = load_policy_book()
BASES = tuple(p for p in BOOK.in_force())
YEAR_START = date(2021, 1, 1).toordinal()
REGIONS = (341225, 341221, 331102)


@lru_cache(maxsize=512)
def build_policy(base: int, patch: tuple[tuple[str, object], ...]) -> Policy:
    """A shipped policy with its outpatient terms patched."""
    outpatient = {k: list(v) if isinstance(v, tuple) else v for k, v in patch}
    return policy_from_mapping(merge(BOOK.raw(BASES[base]), {"outpatient": outpatient}),
                               "property")


@st.composite
def patches(draw) -> tuple[int, tuple[tuple[str, object], ...]]:
    ratio = draw(st.integers(0, 100))
    cap = draw(st.one_of(st.integers(0, 50_000), st.sampled_from([25_000, 0, 1])))
    deductible = draw(st.sampled_from([0, 0, 0, 1, 500, 5_000]))
    patch = {
        "ratio": f"{ratio // 100}.{ratio % 100:02d}",
        "per_person_cap": str(Money(cap)),
        "pooling": draw(st.sampled_from(["household", "household", "person"])),
        "max_facility_level": draw(st.integers(0, 3)),
        "in_county_only": draw(st.booleans()),
        "deductible": str(Money(deductible)),
        "excluded_causes": draw(st.lists(st.sampled_from(CAUSES[1:]), unique=True,
                                         max_size=3)),
    }
    base = draw(st.integers(0, len(BASES) - 1))
    return base, tuple((k, tuple(v) if isinstance(v, list) else v)
                       for k, v in sorted(patch.items()))


@st.composite
def claim_tables(draw) -> tuple[list[Policy], ClaimColumns, list[int], list[int]]:
    policies = [build_policy(base, patch)
                for base, patch in draw(st.lists(patches(), min_size=1, max_size=3))]
    households = draw(st.integers(1, 4))
    # usually one policy per household (the realistic case), sometimes per row
    household_policy = [draw(st.integers(0, len(policies) - 1)) for _ in range(households)]
    mixed = draw(st.booleans())
    n = draw(st.integers(1, 40))
    cols: dict[str, list] = {f.name: [] for f in attrs.fields(ClaimColumns)}
    for _ in range(n):
        h = draw(st.integers(0, households - 1))
        visit = YEAR_START + draw(st.integers(0, 364))
        covered = draw(st.sampled_from(["year", "year", "year", "late", "none"]))
        covered_from = {"year": YEAR_START, "none": 0,
                        "late": YEAR_START + draw(st.integers(0, 300))}[covered]
        cols["household"].append(h)
        cols["person"].append(draw(st.integers(0, 3)))
        cols["policy"].append(draw(st.integers(0, len(policies) - 1)) if mixed
                              else household_policy[h])
        cols["visit_day"].append(visit)
        cols["facility_level"].append(draw(st.sampled_from([0, 1, 1, 1, 2, 3])))
        cols["facility_region"].append(draw(st.sampled_from(REGIONS[:1] * 4 + REGIONS)))
        cols["member_region"].append(draw(st.sampled_from(REGIONS[:1] * 6 + REGIONS[1:2])))
        cols["expense"].append(draw(st.one_of(st.integers(0, 20_000), st.integers(0, 200_000),
                                              st.sampled_from([0, 1, 9, 10**9]))))
        cols["cause"].append(draw(st.sampled_from([0] * 10 + list(range(len(CAUSES))))))
        cols["covered_from"].append(covered_from)
        cols["covered_to"].append(draw(st.sampled_from(
            [0, 0, 0, YEAR_START + 200, YEAR_START + 364])))
        cols["suspended"].append(draw(st.integers(0, 19)) == 0)
        cols["counts_for_cap"].append(draw(st.integers(0, 9)) > 0)
        cols["covered_on_visit"].append(draw(st.sampled_from([1, 1, 2, 2, 3, 4, 0, 6])))
    reversals = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                              max_size=4))
    claims = [min(a, b) for a, b in reversals]
    after = [max(a, b) for a, b in reversals]
    if claims and draw(st.booleans()):  # the same claim reversed again, later or at once
        claims.append(claims[0])
        after.append(draw(st.integers(after[0], n - 1)))
    return policies, ClaimColumns(**cols), claims, after


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
    policy = build_policy(0, (("ratio", str(ratio)),))
    num, den = ratio_fraction(policy)
    assert half_up_times(fen, num, den) == Money(fen).times(Decimal(ratio)).fen
