"""The kernel's pools: accepted claims settled against their pool, reversals included.

Within one pool (the household, or the household's member when the row's policy pools by
person) the pool used after claim k follows used_k = min(used_{k-1} + r_k, cap_k). With
u0 the use when a run of claims starts and S the running sum of their reimbursable amounts,
this unrolls to used_k = S_k + min(u0, min_{j<=k}(cap_j - S_j)): a grouped cumulative
minimum, computed for all pools at once. The form holds while used_{k-1} <= cap_k.

A reversal gives a claim's payment back to its pool between two rows. A household's kept
reversals (of accepted claims; a claim is given back once, at its first reversal) cut its
rows into segments: segment s holds the rows that come after s of them. Round s settles
segment s of every household at once, each pool starting from its use at the end of round
s - 1 less what the reversals in between gave back, so households with reversals need as
many rounds as the most reversed household has reversals, not a loop over their rows.
What the form cannot settle exactly — a cap that fell below what was already used, a
household that mixes person and household pooling — is settled again by a plain loop,
household by household (`settle_sequentially`). The kernel's property tests compare every
row with the ledger's rule applied claim by claim, reversals included (ADR 78).
"""

from __future__ import annotations

import numpy as np

_SAFE = 2**62  # headroom kept below the int64 range for sums and offsets


def settle_pools(rows: np.ndarray, household: np.ndarray, person: np.ndarray,
                 by_person: np.ndarray, reimbursable: np.ndarray, cap: np.ndarray,
                 ok: np.ndarray, rev_claim: np.ndarray, rev_after: np.ndarray,
                 reimbursed: np.ndarray, used_before: np.ndarray,
                 remaining_after: np.ndarray) -> None:
    """Fill the outputs of every accepted row (`rows`, ascending)."""
    m = rows.size
    if not m:
        return
    r_all = reimbursable[rows]
    if int(r_all.max()) * m >= _SAFE and sum(r_all.tolist()) >= _SAFE:
        raise OverflowError("the reimbursable amounts sum beyond the int64 range")
    del r_all  # arrays are dropped once used: the fewer alive at once, the fewer fresh pages
    n = household.size
    hh = _dense(household[rows])
    pooled_by_person = by_person[rows]
    if pooled_by_person.any():
        sub = np.where(pooled_by_person, person[rows] + 1, 0)
        pool, pools = _pool_numbers(hh, sub)
        redo = _mixed(hh, sub > 0)
        del sub
    else:  # every pool a household's: no person numbers to combine, nothing mixed
        pool, pools = _pool_numbers(hh, np.zeros(1, np.int64))
        redo = np.zeros(int(hh.max()) + 1, np.bool_)
    del pooled_by_person
    at = np.full(n, -1, np.int64)
    at[rows] = np.arange(m)

    claim, after = _kept_reversals(rev_claim, rev_after, ok)
    segment = np.zeros(m, np.int64)
    rank = np.zeros(0, np.int64)
    if claim.size:
        segment, rank, claim = _segments(rows, hh, hh[at[claim]], claim, after, n)
    used = np.zeros(pools, np.int64)
    for s in range(int(segment.max()) + 1):
        if s:
            back = claim[rank == s - 1]
            np.subtract.at(used, pool[at[back]], reimbursed[back])
        chosen = np.flatnonzero(segment == s)
        if chosen.size:
            _settle_round(rows[chosen], hh[chosen], pool[chosen], used, reimbursable, cap,
                          redo, reimbursed, used_before, remaining_after)
    if redo.any():
        again = redo[hh]
        order = np.lexsort((rows[again], hh[again]))
        settle_sequentially(rows[again][order], household, person, by_person, reimbursable,
                            cap, ok, rev_claim, rev_after, reimbursed, used_before,
                            remaining_after)


def _dense(hh: np.ndarray) -> np.ndarray:
    """Household numbers made small (0 .. about the row count), order kept: as they are when
    already small, else their rank."""
    if int(hh.min()) >= 0 and int(hh.max()) < 4 * hh.size + 1024:
        return hh
    return np.unique(hh, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _pool_numbers(hh: np.ndarray, sub: np.ndarray) -> tuple[np.ndarray, int]:
    """Each row's pool number, increasing with (household, pool within household)."""
    width = int(sub.max()) + 1
    if (int(hh.max()) + 1) * width < _SAFE:
        keys = hh * width + sub if width > 1 else hh
        if int(keys.max()) < 4 * keys.size + 1024:  # small keys: ranked by counting
            present = np.bincount(keys) > 0
            rank = np.cumsum(present) - 1
            return rank[keys], int(rank[-1]) + 1
        found, pool = np.unique(keys, return_inverse=True)
    else:
        found, pool = np.unique(np.stack((hh, sub), axis=1), axis=0, return_inverse=True)
    return pool.reshape(-1).astype(np.int64), len(found)


def _mixed(hh: np.ndarray, is_person: np.ndarray) -> np.ndarray:
    """By household number: its accepted rows mix person and household pooling."""
    size = int(hh.max()) + 1
    rows = np.bincount(hh, minlength=size)
    persons = np.bincount(hh[is_person], minlength=size)
    return (persons > 0) & (persons < rows)


def _kept_reversals(claim: np.ndarray, after: np.ndarray, ok: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The reversals that give something back: of accepted claims, each claim's first."""
    if not claim.size:
        return claim, after
    kept = ok[claim]
    claim, after = claim[kept], after[kept]
    order = np.lexsort((after, claim))
    claim, after = claim[order], after[order]
    first = np.ones(claim.size, np.bool_)
    first[1:] = claim[1:] != claim[:-1]
    return claim[first], after[first]


def _segments(rows: np.ndarray, hh: np.ndarray, owner: np.ndarray, claim: np.ndarray,
              after: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each accepted row's segment (how many of its household's kept reversals come before
    it), each kept reversal's rank within its household, and the reversed claims in that
    order (`hh`, `owner`: dense household numbers of the rows and of the reversed claims)."""
    if (int(hh.max()) + 1) * (n + 1) >= _SAFE:
        raise OverflowError("too many claims for the kernel's reversal keys")
    keys = owner * (n + 1) + after
    order = np.argsort(keys, kind="stable")
    keys, claim, owner = keys[order], claim[order], owner[order]
    first = np.ones(owner.size, np.bool_)
    first[1:] = owner[1:] != owner[:-1]
    starts = np.flatnonzero(first)
    rank = np.arange(owner.size) - starts[np.cumsum(first) - 1]
    # only the rows of households with a reversal are looked up; the others stay in 0
    household_start = np.full(int(hh.max()) + 1, -1, np.int64)
    household_start[owner[starts]] = starts
    segment = np.zeros(rows.size, np.int64)
    looked = np.flatnonzero(household_start[hh] >= 0)
    h = hh[looked]
    segment[looked] = np.searchsorted(keys, h * (n + 1) + rows[looked], "left") - \
        household_start[h]
    return segment, rank, claim


def _settle_round(src_rows: np.ndarray, hh: np.ndarray, pool: np.ndarray, used: np.ndarray,
                  reimbursable: np.ndarray, cap: np.ndarray, redo: np.ndarray,
                  reimbursed: np.ndarray, used_before: np.ndarray,
                  remaining_after: np.ndarray) -> None:
    """One segment of every household, pool by pool with the min-plus form from `used`
    (updated to each pool's use at the end); households it cannot settle are marked."""
    m = src_rows.size
    order = _stable_order(pool)
    src = src_rows[order]
    p = pool[order]
    r = reimbursable[src]
    c = cap[src]
    new_pool = np.empty(m, np.bool_)
    new_pool[0] = True
    np.not_equal(p[1:], p[:-1], out=new_pool[1:])
    starts = np.flatnonzero(new_pool)
    pool_id = np.cumsum(new_pool) - 1

    s = np.cumsum(r)
    s -= (s[starts] - r[starts])[pool_id]  # S_k within each pool
    del r
    v = c - s
    d = grouped_cummin(v, starts, pool_id, int(c.max()) + int(s.max()) + 1)
    del v
    u0 = used[p[starts]]
    np.minimum(d, u0[pool_id], out=d)
    d += s
    after = d
    del s
    prev = np.empty(m, np.int64)
    prev[1:] = after[:-1]
    prev[starts] = u0

    reimbursed[src] = after - prev
    used_before[src] = prev
    remaining_after[src] = c - after
    ends = np.append(starts[1:] - 1, m - 1)
    used[p[ends]] = after[ends]
    redo[hh[order][prev > c]] = True  # the cap fell below what was already used


def _stable_order(key: np.ndarray) -> np.ndarray:
    """Positions sorted by `key` (non-negative), ties kept in their order."""
    m = key.size
    bits = max(1, int(m - 1).bit_length())
    if int(key.max()) < 2 ** (62 - bits):
        packed = (key << bits) | np.arange(m, dtype=np.int64)
        packed.sort()
        return packed & ((1 << bits) - 1)
    return np.argsort(key, kind="stable")


def grouped_cummin(v: np.ndarray, starts: np.ndarray, group: np.ndarray,
                   spread: int, room: int = _SAFE) -> np.ndarray:
    """Running minimum of v restarted at each group: offset each group below the previous.

    `spread` must exceed max(v) - min(v); groups are taken in chunks whose offsets stay
    below `room`.
    """
    out = np.empty_like(v)
    groups = starts.size
    per_chunk = max(1, (room - spread) // spread)
    for first in range(0, groups, per_chunk):
        last = min(groups, first + per_chunk)
        lo = int(starts[first])
        hi = int(starts[last]) if last < groups else v.size
        offset = (group[lo:hi] - first) * spread
        shifted = v[lo:hi] - offset
        np.minimum.accumulate(shifted, out=shifted)
        out[lo:hi] = shifted + offset
    return out


def settle_sequentially(rows: np.ndarray, household: np.ndarray, person: np.ndarray,
                        by_person: np.ndarray, reimbursable: np.ndarray, cap: np.ndarray,
                        ok: np.ndarray, rev_claim: np.ndarray, rev_after: np.ndarray,
                        reimbursed: np.ndarray, used_before: np.ndarray,
                        remaining_after: np.ndarray) -> None:
    """Settle accepted rows one by one (grouped by household, each in settlement order).

    A household's pools depend only on its own claims and reversals, so each household is
    settled on its own, its reversals applied between its rows.
    """
    keep = rev_claim[ok[rev_claim]]
    kept_after = rev_after[ok[rev_claim]]
    order = np.lexsort((kept_after, household[keep]))
    reversals = list(zip(household[keep][order].tolist(), kept_after[order].tolist(),
                         keep[order].tolist(), strict=True))
    reversals.append((-1, 0, 0))  # a sentinel no household matches
    k = 0
    paid: dict[int, int] = {}
    undone: set[int] = set()
    current = -1
    used_household = 0
    used_person: dict[int, int] = {}
    out_reimbursed, out_before, out_after = [], [], []
    for i, h, who, pooled_by_person, r, c in zip(
            rows.tolist(), household[rows].tolist(), person[rows].tolist(),
            by_person[rows].tolist(), reimbursable[rows].tolist(), cap[rows].tolist(),
            strict=True):
        if h != current:
            current = h
            used_household = 0
            used_person = {}
            while -1 < reversals[k][0] < h:  # reversals after a household's last claim
                k += 1
        while reversals[k][0] == h and reversals[k][1] < i:
            claim = reversals[k][2]
            k += 1
            if claim in undone:
                continue  # a claim is given back once
            undone.add(claim)
            back = paid[claim]
            used_household -= back
            owner = int(person[claim])
            used_person[owner] -= back
        used = used_person.get(who, 0) if pooled_by_person else used_household
        room = c - used
        if room < 0:
            room = 0
        pay = r if r < room else room
        used_household += pay
        used_person[who] = used_person.get(who, 0) + pay
        paid[i] = pay
        out_reimbursed.append(pay)
        out_before.append(used)
        out_after.append(room - pay)
    reimbursed[rows] = out_reimbursed
    used_before[rows] = out_before
    remaining_after[rows] = out_after
