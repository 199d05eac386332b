"""Outpatient claims through the benefit year, with reversals and idempotent re-sends.

Visits fall on covered days (and a few before coverage starts); expenses are lognormal with a
median of 60 yuan; a small share goes to facilities, regions or causes the regime refuses.
"""

from __future__ import annotations

import math
import random
from datetime import timedelta

from adapters.generator.clock import _BASE, _day_of, _day_text, _yuan
from adapters.generator.desk import _Desk
from adapters.generator.person import _Person
from adapters.generator.regimes import NEIGHBOURS
from domain.identity import age_on

REVERSAL_REASONS = ("clinic billing error", "settled twice at the clinic",
                    "patient returned the medicine")

_LOG_MEDIAN = math.log(60)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Claims(_Desk):
    """Writes a person's outpatient claims, reversals and re-sent requests."""

    def claims_of(self, p: _Person, county: str) -> None:
        rng, cal = self.rng, self.cal
        if p.employee or p.switcher:
            return
        if p.uncovered_claim and p.ready:
            # a visit before coverage starts (waiting period) or without coverage at all
            first = max(_day_of(p.ready) + timedelta(days=1), cal.year_start)
            last = (p.covered_from - timedelta(days=1)) if p.covered_from else cal.year_end
            if first <= last:
                visit = first.toordinal() + rng.randint(0, (last - first).days)
                self.claim(p, visit, 0, county, "ordinary", reverse=False)
        if p.covered_from is None:
            return
        first = max(p.covered_from, _day_of(p.ready) + timedelta(days=1))
        last = cal.year_end
        if first > last:
            return
        span = (last - first).days + 1
        age = age_on(p.birth, cal.year_start)
        mean = 4.5 if age < 6 else 2.0 if age < 18 else 2.3 if age < 60 else 4.2
        lam = rng.gammavariate(0.7, mean / 0.7) * span / 365 * self.visit_rate
        neighbours = NEIGHBOURS.get(county) or tuple(c for c in self.counties if c != county)
        first_day = first.toordinal()
        random_ = rng.random
        excluded = self.policy.outpatient.excluded_causes
        for _ in range(min(_poisson(rng, lam), 60)):
            r = random_()  # facility level: mostly village clinics and township centres
            level = 0 if r < 0.52 else 1 if r < 0.96 else 2 if r < 0.995 else 3
            region = county
            if neighbours and random_() < 0.02:
                region = neighbours[int(random_() * len(neighbours))]
            cause = "ordinary"
            if excluded and random_() < 0.01:
                cause = excluded[int(random_() * len(excluded))]
            self.claim(p, first_day + int(random_() * span), level, region, cause)

    def claim(self, p: _Person, visit: int, level: int, region: str, cause: str,
              reverse: bool = True) -> None:
        """One visit on the day with ordinal `visit`; lognormal expense, median 60 yuan."""
        random_ = self.rng.random
        self.claim_count += 1
        fen = round(math.exp(self.rng.gauss(_LOG_MEDIAN, 1.0)) * 100)
        fen = min(max(fen, 300), 800_000)
        m = (visit - _BASE) * 1440 + 480 + int(random_() * 600)
        cmd = {"op": "claim", "claim_id": f"{self.prefix}-C{self.claim_count:08d}",
               "person": p.number, "visit_date": _day_text(visit),
               "facility_level": level, "facility_region": region, "expense": _yuan(fen)}
        if cause != "ordinary":
            cmd["cause"] = cause
        self.emit(m, cmd)
        r = random_()
        if r < 0.008:
            self.emit(m, dict(cmd))  # the clinic's system re-sends the identical request
        elif r < 0.016 and reverse and self.expect_ok(p, level, region, cause):
            back = m + 1440 * (1 + int(random_() * 14)) + int(random_() * 300)
            self.emit(back, {"op": "reverse_claim", "claim_id": cmd["claim_id"],
                             "reason": REVERSAL_REASONS[int(random_() * 3)]})

    def expect_ok(self, p: _Person, level: int, region: str, cause: str) -> bool:
        out = self.policy.outpatient
        return (level <= out.max_facility_level and cause not in out.excluded_causes
                and (region == p.region or not out.in_county_only))
