"""Outcomes kept as columns answer as the dicts they stand for: `ClaimTable` (claim id ->
outcome tuple, from six amount columns) and `HouseholdTable` (household id ->
`HouseholdTotals`, with the summary's sum and count of households at their cap taken from the
columns, ADR 102); several regions' tables joined, their keys counted once for both sides of
a what-if (ADRs 119, 120); regions' claims counted where they were decided (ADR 121)."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.usecases.regional_whatif import counted_in_region, merge_sides, merged
from adapters.usecases.whatif import WhatIf
from adapters.whatif.exact import HouseholdTotals, PersonYearMoney, Scope, Side, report
from adapters.whatif.outcomes import (
    ClaimCounts,
    ClaimTable,
    DistinctCounts,
    HouseholdTable,
    PersonYearTable,
    join_claims,
    join_counts,
    join_households,
    join_person_years,
)

IDS = [UUID(int=k * 7919 + 1) for k in range(6)]
POOLS = [("341225", 2021), ("341226", 2021)]


def test_a_claim_table_answers_as_the_dict_of_its_rows() -> None:
    ids = pa.chunked_array([["a", "b"], ["c"]])
    amounts = [np.array([k, k + 1, k + 2], np.int64) for k in range(6)]
    table = ClaimTable(ids, np.array([0, 1, 0], np.int8), (None, "excluded_cause"), amounts)
    expected = {"a": (None, 0, 1, 2, 3, 4, 5), "b": ("excluded_cause", 1, 2, 3, 4, 5, 6),
                "c": (None, 2, 3, 4, 5, 6, 7)}
    assert dict(table) == expected and dict(table.items()) == expected
    assert table["b"] == expected["b"] and list(table) == ["a", "b", "c"]
    assert table.reason_counts() == {"excluded_cause": 1}
    other = ClaimTable(ids, np.zeros(3, np.int8), (None,), [a.copy() for a in amounts])
    other.amounts[5][2] = 0
    assert table.changed_against(other) == 2


households = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 30_000),
                                st.integers(0, 40_000), st.integers(0, 4), st.integers(0, 4),
                                st.booleans()), min_size=1, max_size=len(IDS))


@given(households)
def test_a_household_table_answers_as_the_dict_of_household_totals(rows: list) -> None:
    pool, cap, used, members, covered, kept = (list(c) for c in zip(*rows, strict=True))
    heads = [f"head-{k}" for k in range(len(rows))]
    table = HouseholdTable(
        pa.array([str(h) for h in IDS[:len(rows)]]), heads, np.array(pool), POOLS,
        np.array(cap), np.array(used), np.array(members), np.array(covered),
        np.flatnonzero(kept), HouseholdTotals)
    expected = {IDS[k]: HouseholdTotals(heads[k], POOLS[pool[k]][1], POOLS[pool[k]][0],
                                        cap=cap[k], reimbursed=used[k], members=members[k],
                                        covered=covered[k])
                for k in range(len(rows)) if kept[k]}
    assert table == expected and len(table) == len(expected)
    assert table.reimbursed_total() == sum(h.reimbursed for h in expected.values())
    assert table.at_cap_count() == sum(1 for h in expected.values() if h.at_cap)
    as_table, as_dict = Side(households=table), Side(households=expected)
    assert report(Scope(), as_table, as_table, "fast") == report(Scope(), as_dict, as_dict,
                                                                 "fast")


# --- several regions' tables joined as one (ADR 113) --------------------------------------------

REASONS = (None, "excluded_cause", "not_covered_on_date", "facility_not_eligible")
claim_parts = st.lists(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 9_000)),
                                max_size=5), min_size=1, max_size=4)


def _claim_tables(parts: list, kinds: list[str]) -> list[ClaimTable]:
    tables, n = [], 0
    for rows, kind in zip(parts, kinds, strict=False):
        ids = [f"c{n + k}" for k in range(len(rows))]
        n += len(rows)
        reasons = (None, *REASONS[1 + len(tables) % 3:])  # each table its own reason list
        codes = np.array([min(c, len(reasons) - 1) for c, _ in rows], np.int8)
        amounts = [np.array([a + k for _, a in rows], np.int64) for k in range(6)]
        column = (pa.array(ids, pa.string()) if kind == "arrow" else np.array(ids, dtype=str)
                  if kind == "numpy" else ids)
        tables.append(ClaimTable(column, codes, reasons, amounts))
    return tables


@given(claim_parts, st.lists(st.sampled_from(["arrow", "numpy", "list"]), min_size=4,
                             max_size=4))
def test_claim_tables_of_several_regions_join_as_their_dicts_merge(parts: list,
                                                                   kinds: list[str]) -> None:
    tables = _claim_tables(parts, kinds)
    joined = join_claims(tables)
    merged: dict = {}
    for t in tables:
        merged.update(dict(t.items()))
    assert joined is not None
    assert list(joined.items()) == list(merged.items()) and len(joined) == len(merged)
    assert joined.reason_counts() == Counter(o[0] for o in merged.values() if o[0])


def test_claim_tables_sharing_a_claim_are_not_joined() -> None:
    one, two = _claim_tables([[(0, 5), (1, 6)], [(0, 7)]], ["arrow", "arrow"])
    again = ClaimTable(pa.array(["c0"]), np.zeros(1, np.int8), (None,),
                       [np.ones(1, np.int64)] * 6)
    assert join_claims([one, two]) is not None and join_claims([one, again]) is None


@given(st.lists(households, min_size=1, max_size=3))
def test_household_tables_of_several_regions_join_as_their_dicts_merge(parts: list) -> None:
    tables, start = [], 0
    for rows in parts:
        pool, cap, used, members, covered, kept = (list(c) for c in zip(*rows, strict=True))
        ids = [str(UUID(int=start + k + 1)) for k in range(len(rows))]
        start += len(rows)
        pools = POOLS if len(tables) % 2 == 0 else POOLS[::-1]  # pools listed apart
        tables.append(HouseholdTable(
            pa.array(ids), [f"head-{i}" for i in ids], np.array(pool), pools, np.array(cap),
            np.array(used), np.array(members), np.array(covered), np.flatnonzero(kept),
            HouseholdTotals))
    merged: dict = {}
    for t in tables:
        merged.update(dict(t.items()))
    joined = join_households(tables)
    assert joined is not None and dict(joined.items()) == merged
    assert list(joined) == list(merged)
    assert joined.reimbursed_total() == sum(h.reimbursed for h in merged.values())
    assert joined.at_cap_count() == sum(1 for h in merged.values() if h.at_cap)
    by_region: dict = {}
    for h in merged.values():
        count, used = by_region.get(h.region, (0, 0))
        by_region[h.region] = (count + 1, used + h.reimbursed)
    assert joined.by_region() == by_region


def _person_years(persons: list[str], year: int, arrow: bool) -> PersonYearTable:
    n = len(persons)
    column = (lambda v: pa.array(v)) if arrow else list  # noqa: E731
    return PersonYearTable({
        "person": column(persons), "year": column([year] * n),
        "region": column(["341225"] * n), "due": np.arange(n) * 100,
        "subsidy": np.zeros(n, np.int64), "paid": np.arange(n) * 100,
        "refunded": np.zeros(n, np.int64), "covered": np.ones(n, bool),
        "terminated": np.zeros(n, bool), "rule": column(["fuyang-2021@2"] * n)},
        PersonYearMoney)


@pytest.mark.parametrize("arrow", [True, False])
def test_person_year_tables_join_unless_a_person_year_is_in_two(arrow: bool) -> None:
    a, b = _person_years(["p1", "p2"], 2021, arrow), _person_years(["p1", "p3"], 2022, arrow)
    joined = join_person_years([a, b])
    assert joined is not None and dict(joined.items()) == {**dict(a.items()), **dict(b.items())}
    assert joined.total("paid") == a.total("paid") + b.total("paid")
    assert join_person_years([a, _person_years(["p2"], 2021, arrow)]) is None


def test_sides_sharing_a_key_merge_as_dicts_the_later_region_winning() -> None:
    one, two = _claim_tables([[(0, 5)], [(0, 7)]], ["arrow", "arrow"])
    clash = ClaimTable(pa.array(["c0"]), np.zeros(1, np.int8), (None,),
                       [np.full(1, 9, np.int64)] * 6)
    joined = merge_sides([Side(claims=one), Side(claims=two)])
    assert isinstance(joined.claims, ClaimTable) and list(joined.claims) == ["c0", "c1"]
    merged = merge_sides([Side(claims=one), Side(claims=clash)])
    assert isinstance(merged.claims, dict) and merged.claims == {"c0": (None, 9, 9, 9, 9, 9, 9)}


def test_claim_tables_with_ids_of_two_arrow_types_join_as_a_list() -> None:
    amounts = [np.ones(1, np.int64)] * 6
    small = ClaimTable(pa.array(["c0"], pa.string()), np.zeros(1, np.int8), (None,), amounts)
    large = ClaimTable(pa.array(["c1"], pa.large_string()), np.zeros(1, np.int8), (None,),
                       amounts)
    joined = join_claims([small, large])
    assert joined is not None and list(joined) == ["c0", "c1"]


def test_person_years_of_arrow_persons_and_listed_years_join_unless_one_is_in_two() -> None:
    def table(persons: list[str], year: int) -> PersonYearTable:
        made = _person_years(persons, year, arrow=False)
        made.c["person"] = pa.array(persons)  # as the fast engine holds them
        return made

    a, b = table(["p1", "p2"], 2021), table(["p1", "p3"], 2022)
    joined = join_person_years([a, b])
    assert joined is not None and dict(joined.items()) == {**dict(a.items()), **dict(b.items())}
    assert join_person_years([a, table(["p2"], 2021)]) is None


def test_distinct_keys_are_counted_once_per_set_of_columns_and_again_for_other_columns(
        ) -> None:
    counts, calls = DistinctCounts(), []
    one, two = pa.array(["a", "b"]), pa.array(["c"])

    def count() -> int:
        calls.append(1)
        return 3

    assert counts.count([one, two], count) == 3
    assert counts.count([one, two], lambda: 99) == 3  # the same columns: remembered
    assert counts.count([pa.array(["a", "b"]), two], lambda: 7) == 7  # equal, not the same
    assert calls == [1]


def test_both_sides_of_a_what_if_merged_with_one_count_equal_each_merged_alone() -> None:
    base = _claim_tables([[(0, 5), (1, 6)], [(2, 7)]], ["arrow", "arrow"])
    reform = [ClaimTable(t.ids, t.codes, t.reasons, [a * 2 for a in t.amounts])
              for t in base]  # the same claim id columns, other amounts
    counts = DistinctCounts()
    together = [merge_sides([Side(claims=t) for t in tables], counts)
                for tables in (base, reform)]
    alone = [merge_sides([Side(claims=t) for t in tables]) for tables in (base, reform)]
    assert [dict(s.claims.items()) for s in together] == [dict(s.claims.items())
                                                           for s in alone]
    assert all(isinstance(s.claims, ClaimTable) for s in together)
    base_claims, reform_claims = together[0].claims, together[1].claims
    assert base_claims.ids is reform_claims.ids  # one joined column (ADR 120)
    assert reform_claims.changed_against(base_claims) == sum(
        1 for cid, o in reform_claims.items() if base_claims[cid] != o) == 3


@given(claim_parts, st.lists(st.sampled_from(["arrow", "numpy", "list", "dict"]),
                             min_size=4, max_size=4), st.data())
def test_regions_that_count_their_own_claims_give_the_summary_of_their_claims_merged(
        parts: list, kinds: list[str], data: st.DataObject) -> None:
    base = _claim_tables(parts, [k if k != "dict" else "list" for k in kinds])
    reform = []
    for t in base:
        moved = np.array(data.draw(st.lists(st.booleans(), min_size=len(t), max_size=len(t))),
                         bool)
        codes = np.where(moved, (t.codes + 1) % len(t.reasons), t.codes).astype(np.int8)
        reform.append(ClaimTable(t.ids, codes, t.reasons, [a + moved for a in t.amounts]))

    def held(table: ClaimTable, kind: str) -> Any:
        return dict(table.items()) if kind == "dict" else table

    regions = [WhatIf(Scope(), {}, Side(claims=held(b, k)), Side(claims=held(r, k)), [])
               for b, r, k in zip(base, reform, kinds, strict=False)]
    counted = [counted_in_region(r) for r in regions]
    assert all(isinstance(r.reform.claims, ClaimCounts) for r in counted)
    expected = report(Scope(), merge_sides([Side(claims=dict(t.items())) for t in base]),
                      merge_sides([Side(claims=dict(t.items())) for t in reform]), "fast")
    assert merged(counted, Scope(), "fast").summary == expected
    assert merged(regions, Scope(), "fast").summary == expected  # the claims themselves


def test_claim_counts_of_a_region_are_its_claims_reasons_and_changes() -> None:
    base = {"a": (None, 1, 1, 1, 1, 1, 1), "b": ("excluded_cause", 0, 0, 0, 0, 0, 0)}
    reform = {"a": (None, 1, 1, 1, 1, 1, 2), "b": ("excluded_cause", 0, 0, 0, 0, 0, 0)}
    counts = ClaimCounts.of(reform, base)
    assert (len(counts), counts.reason_counts(), counts.changed) == (
        2, Counter({"excluded_cause": 1}), 1)
    assert ClaimCounts.of(base).changed is None and ClaimCounts.of(counts) is counts
    joined = join_counts([counts, ClaimCounts(3, {"over_cap": 2}, 2)])
    assert joined == ClaimCounts(5, {"excluded_cause": 1, "over_cap": 2}, 3)
    assert join_counts([counts, ClaimCounts.of(base)]).changed is None


def test_a_deployments_regions_are_joined_end_to_end_without_counting_their_keys() -> None:
    one, two = _person_years(["p1", "p2"], 2021, True), _person_years(["p2"], 2021, True)
    sides = [Side(person_years=one), Side(person_years=two)]
    assert isinstance(merge_sides(sides).person_years, dict)  # counted: p2 twice, as dicts
    joined = merge_sides(sides, distinct=True).person_years  # a deployment's (ADR 125)
    assert isinstance(joined, PersonYearTable) and len(joined) == 3
    assert joined.total("paid") == one.total("paid") + two.total("paid")


def test_person_years_joined_from_regions_that_summed_theirs_keep_those_sums() -> None:
    one, two = _person_years(["p1", "p2"], 2021, True), _person_years(["p3"], 2022, True)
    fresh = join_person_years([one, two])
    assert fresh is not None and fresh._pools is None  # summed when asked, from the columns
    expected = fresh.by_pool()
    one.by_pool(), two.by_pool()  # each region's task summed its own
    carried = join_person_years([one, two])
    assert carried is not None and carried._pools == one.by_pool() + two.by_pool()
    assert sorted(carried.by_pool()) == sorted(expected)
