"""How many of a household's members count for its cap at each of its claims, column-wise.

`domain.rules.pool.counts_for_cap` asks of one member on one day: covered (before the claim,
from the visit day or earlier), not suspended, not gone. The fast engine asks it of every
member slot of the claim's household for a million claims; this module answers with one
count per household where nothing changes over the household's claims, and slot by slot for
the rest. The engines' property test (tests/properties/test_whatif_properties.py: fast and
exact settle every claim alike) proves it equal to the rule.
"""

from __future__ import annotations

import numpy as np


def members_counting(household: np.ndarray, pos: np.ndarray, visit: np.ndarray,
                     cov_pos: np.ndarray, end_pos: np.ndarray, cov_from: np.ndarray,
                     chunk: int = 131_072) -> np.ndarray:
    """How many of the claim's household's members count for the cap at the claim: covered
    before its position, not suspended or gone by then, covered from its visit day or
    earlier (`cov_pos`, `end_pos`, `cov_from`: households x member slots; an empty slot
    never counts). A household whose every member counts at all its claims or at none is
    answered by one count; the others claim by claim, (claims x widest household) at a
    time."""
    n = household.size
    out = np.zeros(n, np.int32)
    if not n:
        return out
    size = cov_pos.shape[0]
    big = np.iinfo(np.int64).max
    first, last = np.full(size, big, np.int64), np.full(size, -1, np.int64)
    np.minimum.at(first, household, pos)
    np.maximum.at(last, household, pos)
    # in the visit days' own (signed) type: ufunc.at casting element by element is ten times
    # slower
    if visit.dtype.kind != "i":
        visit = visit.astype(np.int64)
    early = np.full(size, np.iinfo(visit.dtype).max, visit.dtype)
    late = np.full(size, -1, visit.dtype)
    np.minimum.at(early, household, visit)
    np.maximum.at(late, household, visit)
    always = ((cov_pos < first[:, None]) & (end_pos > last[:, None])
              & (cov_from <= early[:, None]))
    never = ((cov_pos >= last[:, None]) | (end_pos <= first[:, None])
             | (cov_from > late[:, None]))
    steady = (always | never).all(axis=1)
    out[:] = always.sum(axis=1).astype(np.int32)[household]
    varying = np.flatnonzero(~steady[household])
    for lo in range(0, varying.size, chunk):  # bounded memory
        rows = varying[lo:lo + chunk]
        h, p = household[rows], pos[rows, None]
        out[rows] = ((cov_pos[h] < p) & (end_pos[h] > p)
                     & (cov_from[h] <= visit[rows, None])).sum(axis=1)
    return out
