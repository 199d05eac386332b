"""The county's shared state and the commands written at the desk.

`_Desk` holds what every phase of a county year reads and writes (the random source, the
regime, the rows written so far, the counters behind payment and claim references) and writes
the commands themselves: registrations, enrollments and payments, the latter through a channel
the regime accepts. It also asks the domain's rules what a person owes and from when they are
covered, so the other phases never guess.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from adapters.generator.clock import _day_of, _yuan
from adapters.generator.identities import FAMILY_IDENTITIES, PERSONAL_IDENTITIES
from adapters.generator.person import _Person
from adapters.generator.regimes import _Calendar, counties_for
from domain.errors import Rejected
from domain.identity import age_on
from domain.policy import Policy
from domain.rules.contribution import decide_contribution
from domain.rules.coverage import CoverageFacts, coverage_start

OFFLINE = ("bank_counter", "tax_pos", "cash", "collective_agent", "bank_debit")
OFFLINE_WEIGHTS = (25, 20, 25, 20, 10)


class _Desk:
    """State shared by the phases of a county year, and the commands they write."""

    def __init__(self, households: int, policy: Policy, seed: int,
                 visit_rate: float = 1.0) -> None:
        self.rng = random.Random(seed)
        self.visit_rate = visit_rate
        self.policy = policy
        self.year = policy.year
        self.cal = _Calendar(policy)
        self.counties = counties_for(policy)
        self.households = households
        self.prefix = f"{policy.id}-{seed}"
        self.rows: list[tuple[int, int, int, dict[str, Any]]] = []
        self.hh = 0
        self.seq = 0
        self.payments = 0
        self.claim_count = 0
        self.used_ids: set[str] = set()
        rules = {r.identity for r in policy.subsidies.rules}
        self.family_identities = [i for i in FAMILY_IDENTITIES if i in rules]
        self.personal_identities = [i for i in PERSONAL_IDENTITIES if i in rules]
        self.all_identities = sorted(rules)
        self.online = policy.payment.online_channels
        self.proxy_ages = policy.payment.self_pay_online_ages
        self.employee_account = policy.seed == "003"

    # --- output ------------------------------------------------------------------------------

    def emit(self, m: int, fields: dict[str, Any]) -> dict[str, Any]:
        self.rows.append((m, self.hh, self.seq, fields))
        self.seq += 1
        return fields

    # --- channels ----------------------------------------------------------------------------

    def channel(self, p: _Person, day: date, payer: str | None) -> tuple[str, str | None]:
        """A channel and payer the regime accepts (online proxies, subsidised people)."""
        rng = self.rng
        age = age_on(p.birth, day)
        online_share = 0.25 if age >= 60 else 0.65
        if self.online and rng.random() < online_share:
            ch = rng.choice(self.online)
            if p.subsidy and not self.policy.payment.subsidised_may_pay_online:
                ch = rng.choices(OFFLINE, OFFLINE_WEIGHTS)[0]
            elif payer is not None and self.proxy_ages is not None:
                low, high = self.proxy_ages
                if low <= age <= high:
                    payer = None  # aged 18-50 online: they pay for themselves
            return ch, payer
        return rng.choices(OFFLINE, OFFLINE_WEIGHTS)[0], payer

    # --- commands ----------------------------------------------------------------------------

    def register(self, m: int, p: _Person, county: str) -> None:
        self.emit(m, {"op": "register", "person": p.number, "name": p.name, "region": county})

    def enroll(self, m: int, p: _Person, county: str, head: _Person | None,
               **extra: Any) -> dict[str, Any]:
        cmd: dict[str, Any] = {"op": "enroll", "person": p.number, "year": self.year,
                               "region": county}
        if head is not None and head is not p:
            cmd["household_head"] = head.number
        if p.category != "general":
            cmd["category"] = p.category
        if p.identity:
            cmd["identity"] = p.identity
        cmd.update(extra)
        return self.emit(m, cmd)

    def pay(self, m: int, p: _Person, fen: int, payer: _Person | None = None,
            relation: str | None = None, channel: str | None = None) -> dict[str, Any]:
        self.payments += 1
        day = _day_of(m)
        payer_id = payer.number if payer is not None and payer is not p else None
        if channel is None:
            channel, payer_id = self.channel(p, day, payer_id)
        cmd: dict[str, Any] = {"op": "pay", "person": p.number, "year": self.year,
                               "amount": _yuan(fen), "channel": channel,
                               "payment_ref": f"{self.prefix}-P{self.payments:08d}"}
        if payer_id is not None:
            cmd["payer"] = payer_id
            cmd["payer_relation"] = relation or "other"
        return self.emit(m, cmd)

    def decide(self, p: _Person, identity: str | None = None) -> tuple[int, int]:
        d = decide_contribution(self.policy, p.birth, p.category, identity or p.identity)
        return d.due.fen, d.subsidy.fen

    def coverage(self, p: _Person, settled: date, prior: bool = False, broken: int = 0,
                 back_paid: int = 0) -> date | None:
        """The first covered day the ledger will decide; None when it will refuse the payment
        (e.g. a waiting period that would end after the benefit year)."""
        facts = CoverageFacts(p.category, p.birth, p.identity, prior, broken, back_paid)
        try:
            return coverage_start(self.policy, facts, settled).covered_from
        except Rejected:
            return None
