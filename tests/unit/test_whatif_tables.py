"""Outcomes kept as columns answer as the dicts they stand for: `ClaimTable` (claim id ->
outcome tuple, from six amount columns) and `HouseholdTable` (household id ->
`HouseholdTotals`, with the summary's sum and count of households at their cap taken from the
columns, ADR 102)."""

from __future__ import annotations

from uuid import UUID

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from adapters.whatif.exact import HouseholdTotals, Scope, Side, report
from adapters.whatif.outcomes import ClaimTable, HouseholdTable

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
