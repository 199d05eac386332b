"""A scope's claims, members and person-years read out of the columnar store.

DuckDB joins each claim to its household (the scope's filter, the household's number and
its pool of region and year) and to its claimant's member row, on integer keys (ADR 79), and
hands every column over through Arrow: the numbers as NumPy arrays, the claim ids left in
Arrow (`ClaimTable` converts them only when one is asked for), no Python object per row. The
claims come in the order they were written, which is the log's; they are sorted by position
only if a scan ever gives them otherwise.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
from attrs import frozen

from adapters.stores.columnar.store import ColumnarFailed, ColumnarStore
from domain.policy import CAUSES

NEVER = np.iinfo(np.int64).max
#: date.toordinal() of DATE '0001-01-01'
_ORDINAL = "(({col}) - DATE '0001-01-01') + 1"

_HOUSEHOLDS = """
CREATE OR REPLACE TEMP TABLE scope_h AS
SELECT hkey, household_id, region, year,
       (row_number() OVER (ORDER BY hkey) - 1)::BIGINT AS hno,
       (dense_rank() OVER (ORDER BY region, year) - 1)::BIGINT AS pool
FROM households
WHERE ($region IS NULL OR starts_with(region, $region)) AND ($year IS NULL OR year = $year)
"""
_MEMBERS = """
CREATE OR REPLACE TEMP TABLE scope_m AS
SELECT m.*, h.hno,
       (row_number() OVER (ORDER BY h.hno, m.pkey) - 1)::BIGINT AS mrow
FROM members m JOIN scope_h h USING (hkey)
"""
_MEMBER_COLUMNS = f"""
SELECT hno, pkey,
       COALESCE(CAST(NULLIF(region, '') AS BIGINT), 0) AS region,
       COALESCE({_ORDINAL.format(col="covered_from")}, 0)::INTEGER AS covered_from,
       COALESCE({_ORDINAL.format(col="covered_to")}, 0)::INTEGER AS covered_to,
       COALESCE(covered_position, {NEVER}) AS covered_position,
       COALESCE(suspended_position, {NEVER}) AS suspended_position,
       COALESCE(left_position, {NEVER}) AS left_position,
       joined_position
FROM scope_m ORDER BY mrow
"""
_CLAIMS = f"""
SELECT c.claim_id, h.hno AS household, h.pool, COALESCE(m.mrow, -1) AS claimant,
       {_ORDINAL.format(col="c.visit_date")}::INTEGER AS visit_day,
       c.facility_level::TINYINT AS facility_level,
       CAST(c.facility_region AS BIGINT) AS facility_region, c.expense,
       (COALESCE(list_position($causes, c.cause), 0) - 1)::TINYINT AS cause,
       c.position, COALESCE(c.reversal_position, {NEVER}) AS reversal_position,
       c.eligible, c.reimbursable, c.reimbursed, c.pool_cap, c.pool_used_before,
       c.pool_remaining_after
FROM claims c JOIN scope_h h USING (hkey)
LEFT JOIN scope_m m ON m.hkey = c.hkey AND m.pkey = c.pkey
"""
_POLICIES = """
SELECT DISTINCT policy_id, policy_version FROM claims
WHERE hkey IN (SELECT hkey FROM scope_h)
"""
_PERSON_YEARS = """
SELECT p.person, y.year, y.region, y.due, y.subsidy, y.paid, y.refunded,
       y.covered AND NOT y.terminated AS covered, y.terminated, y.rule
FROM person_years y JOIN persons p USING (person_uuid)
WHERE ($region IS NULL OR starts_with(y.region, $region)) AND ($year IS NULL OR y.year = $year)
"""
_LISTED = ("person", "year", "region", "rule")
RECORDED = ("eligible", "reimbursable", "reimbursed", "pool_cap", "pool_used_before",
            "pool_remaining_after")


@frozen(eq=False)
class ScopeColumns:
    """The scope's households (numbered 0..), their members (rows 0..) and claims."""

    household_ids: list[str]  # by household number
    pools: list[tuple[str, int]]  # (region, year) by pool number
    members: dict[str, np.ndarray]  # hno, pkey, region, covered_*, *_position
    claims: dict[str, np.ndarray]  # claim_id, household, pool, claimant (-1: none), facts…
    recorded_policies: set[tuple[str, str]]
    #: columns person, year, region, rule (lists); due, subsidy, paid, refunded (fen),
    #: covered, terminated (NumPy arrays)
    person_years: dict[str, Any]

    def __len__(self) -> int:
        return len(self.claims["claim_id"])

    def recorded(self) -> np.ndarray:
        """The recorded outcome amounts, one row per claim (RECORDED's order)."""
        return np.column_stack([self.claims[c] for c in RECORDED]).astype(np.int64)


def read_scope(store: ColumnarStore, region: str | None, year: int | None) -> ScopeColumns:
    """The scope's columns, read in one transaction (`ColumnarFailed` if DuckDB fails)."""
    params: dict[str, Any] = {"region": region or None, "year": year}
    try:
        return _read(store, params)
    except duckdb.Error as e:
        raise ColumnarFailed(f"{store} could not be read ({type(e).__name__}: {e})") from e


def _read(store: ColumnarStore, params: dict[str, Any]) -> ScopeColumns:
    con = store.con
    con.begin()
    try:
        con.execute(_HOUSEHOLDS, params)
        households = con.execute(
            "SELECT household_id, region, year, pool FROM scope_h ORDER BY hno").fetchall()
        con.execute(_MEMBERS)
        members = {k: _plain(v) for k, v in con.execute(_MEMBER_COLUMNS).fetchnumpy().items()}
        _check_member_keys(members)
        claims = _arrays(con.sql(_CLAIMS, params={"causes": list(CAUSES)}).to_arrow_table())
        policies = set(con.execute(_POLICIES).fetchall())
        person_years = con.sql(_PERSON_YEARS, params=params).to_arrow_table()
    finally:
        con.rollback()
    position = claims["position"]
    if position.size > 1 and not bool((position[1:] > position[:-1]).all()):
        order = np.argsort(position, kind="stable")
        claims = {k: (v.take(order) if k == "claim_id" else v[order])
                  for k, v in claims.items()}
    pools: dict[int, tuple[str, int]] = {}
    for _hid, r, y, pool in households:
        pools[pool] = (r, y)
    return ScopeColumns(
        household_ids=[h[0] for h in households],
        pools=[pools[k] for k in range(len(pools))],
        members=members,
        claims=claims, recorded_policies=policies,
        person_years={name: (person_years.column(name).to_pylist() if name in _LISTED
                             else person_years.column(name).to_numpy())
                      for name in person_years.column_names})


def _check_member_keys(members: dict[str, np.ndarray]) -> None:
    """Two members of one household under one integer key would be joined to each other's
    claims (ADR 78): refused, so that the views answer instead."""
    hno, pkey = members["hno"], members["pkey"]
    if hno.size > 1 and bool(((hno[1:] == hno[:-1]) & (pkey[1:] == pkey[:-1])).any()):
        raise ColumnarFailed("two members of one household share an integer key in the "
                             "columnar store (ADR 78); the views answer instead")


def _arrays(table: Any) -> dict[str, Any]:
    """An Arrow result as columns: the claim ids stay an Arrow array, the rest NumPy arrays
    (a column the store always fills never comes back with nulls)."""
    out: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if name == "claim_id":
            out[name] = column
            continue
        if column.null_count:
            raise ValueError("a column the columnar store always fills came back with nulls")
        out[name] = column.to_numpy(zero_copy_only=False)
    return out


def _plain(values: Any) -> np.ndarray:
    """A fetched column as a plain array (DuckDB hands over masked arrays for nullable ones)."""
    if isinstance(values, np.ma.MaskedArray):
        if values.mask is not np.ma.nomask and values.mask.any():
            raise ValueError("a column the columnar store always fills came back with nulls")
        return values.data
    return values
