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
_ORDINAL = "((({col}) - DATE '0001-01-01') + 1)"

_HOUSEHOLDS = """
CREATE OR REPLACE TEMP TABLE scope_h AS
SELECT hkey, household_id, region, year, head, cap_each,
       (row_number() OVER (ORDER BY hkey) - 1)::BIGINT AS hno,
       (dense_rank() OVER (ORDER BY region, year) - 1)::BIGINT AS pool
FROM households
WHERE ($region IS NULL OR starts_with(region, $region)) AND ($year IS NULL OR year = $year)
"""
_HOUSEHOLD_COLUMNS = "SELECT household_id, head, pool, cap_each FROM scope_h ORDER BY hno"
_POOLS = "SELECT DISTINCT pool, region, year FROM scope_h ORDER BY pool"
_MEMBERS = """
CREATE OR REPLACE TEMP TABLE scope_m AS
SELECT m.hkey, m.pkey, m.region, m.covered_from, m.covered_to, m.joined_position,
       m.covered_position, m.suspended_position, m.left_position, h.hno,
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
#: every column in the dtype the kernel takes, so that none is converted again
_CLAIMS = f"""
SELECT c.claim_id, h.hno AS household, h.pool, COALESCE(m.mrow, -1) AS claimant,
       ({_ORDINAL.format(col="c.visit_date")})::INTEGER AS visit_day,
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
#: Arrow record batches as large as a scope can be: each column comes over in one piece, handed
#: to NumPy without a copy
_ONE_CHUNK = 1 << 40
RECORDED = ("eligible", "reimbursable", "reimbursed", "pool_cap", "pool_used_before",
            "pool_remaining_after")


@frozen(eq=False)
class ScopeColumns:
    """The scope's households (numbered 0..), their members (rows 0..) and claims."""

    #: by household number: household_id, head (the views' pseudonym; Arrow string arrays),
    #: pool (its pool's number), cap_each (the per-person cap it was formed under, fen; None
    #: where `Household.Formed` did not name it: a list then, else a NumPy array)
    households: dict[str, Any]
    pools: list[tuple[str, int]]  # (region, year) by pool number
    members: dict[str, np.ndarray]  # hno, pkey, region, covered_*, *_position
    claims: dict[str, Any]  # claim_id (Arrow), household, pool, claimant (-1: none), facts…
    recorded_policies: set[tuple[str, str]]
    #: columns person, year, region, rule (Arrow arrays); due, subsidy, paid, refunded (fen),
    #: covered, terminated (NumPy arrays)
    person_years: dict[str, Any]

    def __len__(self) -> int:
        return len(self.claims["claim_id"])

    @property
    def household_count(self) -> int:
        return len(self.households["pool"])

    def recorded(self) -> list[np.ndarray]:
        """The recorded outcome amounts, one column each (RECORDED's order)."""
        return [self.claims[c] for c in RECORDED]


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
        households = con.sql(_HOUSEHOLD_COLUMNS).to_arrow_table(batch_size=_ONE_CHUNK)
        pools = [(r, y) for _, r, y in con.execute(_POOLS).fetchall()]
        con.execute(_MEMBERS)
        members = _arrays(con.sql(_MEMBER_COLUMNS).to_arrow_table(batch_size=_ONE_CHUNK))
        _check_member_keys(members)
        claims = _arrays(con.sql(_CLAIMS, params={"causes": list(CAUSES)}
                                 ).to_arrow_table(batch_size=_ONE_CHUNK))
        policies = set(con.execute(_POLICIES).fetchall())
        person_years = con.sql(_PERSON_YEARS, params=params).to_arrow_table(
            batch_size=_ONE_CHUNK)
    finally:
        con.rollback()
    position = claims["position"]
    if position.size > 1 and not bool((position[1:] > position[:-1]).all()):
        order = np.argsort(position, kind="stable")
        claims = {k: (v.take(order) if k == "claim_id" else v[order])
                  for k, v in claims.items()}
    return ScopeColumns(
        households=_households(households),
        pools=pools,
        members=members,
        claims=claims, recorded_policies=policies,
        person_years={name: (person_years.column(name) if name in _LISTED
                             else person_years.column(name).to_numpy())
                      for name in person_years.column_names})


def _households(table: Any) -> dict[str, Any]:
    cap = table.column("cap_each")
    return {"household_id": table.column("household_id"), "head": table.column("head"),
            "pool": table.column("pool").to_numpy(),
            "cap_each": cap.to_pylist() if cap.null_count else cap.to_numpy()}


def _check_member_keys(members: dict[str, np.ndarray]) -> None:
    """Two members of one household under one integer key would be joined to each other's
    claims (ADR 78): refused, so that the views answer instead."""
    hno, pkey = members["hno"], members["pkey"]
    if hno.size > 1 and bool(((hno[1:] == hno[:-1]) & (pkey[1:] == pkey[:-1])).any()):
        raise ColumnarFailed("two members of one household share an integer key in the "
                             "columnar store (ADR 78); the views answer instead")


def _arrays(table: Any) -> dict[str, Any]:
    """An Arrow result as columns: the claim ids stay Arrow (in the chunks DuckDB handed
    over), the rest NumPy arrays, without a copy where one chunk holds the column (a column
    the store always fills never comes back with nulls)."""
    out: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if name == "claim_id":
            out[name] = column
            continue
        if column.null_count:
            raise ValueError("a column the columnar store always fills came back with nulls")
        out[name] = column.to_numpy()
    return out
