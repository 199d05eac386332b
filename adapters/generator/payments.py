"""Paying for a year: on which day, by whom, and what follows a payment.

A person pays in the window (or in the late period), sometimes through a relative or an
employee's medical account; a few pay after the window and are refused. After a payment come
subsidies recognised late and refunded, duplicate payments refunded, switches to employee
insurance, and payment lines the tax bureau's feed sends twice.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from adapters.generator.clock import _day_of, _minute
from adapters.generator.desk import _Desk
from adapters.generator.person import _Person
from domain.identity import age_on


class _Payments(_Desk):
    """Settles what each enrollee owes, with the refunds and repeats real feeds carry."""

    # --- days --------------------------------------------------------------------------------

    def pick_day(self, category: str = "general") -> date:
        """A day in the collection window, busier towards the deadline."""
        cal, rng = self.cal, self.rng
        span = (cal.end - cal.start).days
        day = cal.start + timedelta(days=round(rng.betavariate(1.7, 1.0) * span))
        for _ in range(40):
            if cal.admits(day, category):
                return day
            day -= timedelta(days=1)
        return cal.start

    def later_day(self, day: date, low: int, high: int, last: date,
                  category: str = "general") -> date | None:
        """A day `low`..`high` days after `day`, not after `last`, admitted for payment."""
        for _ in range(4):
            d = day + timedelta(days=self.rng.randint(low, high))
            if d <= last and self.cal.admits(d, category):
                return d
        return None

    # --- settling ----------------------------------------------------------------------------

    def settle(self, p: _Person, t: int, day: date, late: bool, late_extra: dict[str, Any],
               head: _Person, people: list[_Person] | None) -> int | None:
        """Pay what `p` owes (if anything); returns the minute they are settled, or None.

        `people` is None for the head, whose payment always goes through (members could
        not join otherwise); members may pay late or on a closed day and be refused.
        """
        rng, cal = self.rng, self.cal
        member = people is not None
        prior = bool(late_extra.get("insured_before"))
        broken = late_extra.get("broken_years", 0)
        back = late_extra.get("back_paid_years", 0)
        if p.due == 0:
            p.covered_from = self.coverage(p, day, prior, broken, back)
            p.ready = t
            return t if p.covered_from is not None or member else None
        payer, relation = self.payer_of(p, head, people)
        pay_day = day
        if not late and rng.random() < 0.12:
            pay_day = self.later_day(day, 1, 20, cal.end) or day
        m = t + 2 if pay_day == day else _minute(pay_day, rng.randint(8, 19), rng.randrange(60))
        if member and not late and rng.random() < 0.015:
            if cal.late_open and not cal.late_needs_prior:
                # pays after the window: accepted with a waiting period (seed 004)
                late = True
                m = max(t + 2, _minute(cal.end + timedelta(days=rng.randint(1, 55)),
                                       rng.randint(8, 19), rng.randrange(60)))
            else:
                # pays after the window, or on a closed day: refused
                p.ready = self.refused_payment(p, m, payer, relation)
                p.covered_from = None
                p.uncovered_claim = rng.random() < 0.3
                return t + 2  # the rest of the family goes on in the window
        if p.category == "student" and rng.random() < 0.6:
            self.pay(m, p, p.due, channel="school")  # collected at school
        elif not self.employee_payer(p, people, m):
            self.pay(m, p, p.due, payer, relation)
        pay_day = _day_of(m)
        p.covered_from = self.coverage(p, pay_day, prior, broken, back)
        p.ready = m
        if p.covered_from is None:  # the ledger will refuse this payment
            return None if not member else t + 2
        if p.covered_from > pay_day + timedelta(days=1):
            p.uncovered_claim = rng.random() < 0.25
        if not late:
            self.after_payment(p, m, payer, relation, is_head=not member)
        return m

    def refused_payment(self, p: _Person, m: int, payer: _Person | None,
                        relation: str | None) -> int:
        rng, cal = self.rng, self.cal
        day = cal.end + timedelta(days=rng.randint(1, 40))
        if any(w.days_of_month for w in cal.general) and rng.random() < 0.5:
            start = _day_of(m)
            for k in range(1, 40):
                d = start + timedelta(days=k)
                if d > cal.end:
                    break
                if d.day > 25:
                    day = d
                    break
        m = max(m, _minute(day, rng.randint(8, 19), rng.randrange(60)))
        self.pay(m, p, p.due, payer, relation)
        return m

    def payer_of(self, p: _Person, head: _Person,
                 people: list[_Person] | None) -> tuple[_Person | None, str | None]:
        rng = self.rng
        if people is None or p is head:
            return None, None
        age = age_on(p.birth, self.cal.start)
        if p.role == "child" and (age < 16 or rng.random() < 0.5):
            return head, "parent"
        if p.role == "parent" and rng.random() < 0.6:
            return head, "child"
        if p.role == "spouse" and rng.random() < 0.4:
            return head, "spouse"
        return None, None

    def employee_payer(self, p: _Person, people: list[_Person] | None, m: int) -> bool:
        """Seed 003: an employee's medical account pays for a spouse, children or parents."""
        if not self.employee_account or people is None or self.rng.random() < 0.5:
            return False
        worker = next((q for q in people if q.employee and q.role == "spouse"), None)
        if worker is None or p.role not in ("child", "head"):
            return False
        relation = "parent" if p.role == "child" else "spouse"
        self.pay(m, p, p.due, worker, relation, channel="employee_account")
        return True

    def after_payment(self, p: _Person, m: int, payer: _Person | None, relation: str | None,
                      is_head: bool) -> None:
        """Subsidies recognised after payment, duplicate payments, switches to employee
        insurance; each followed by the refund the policy allows."""
        rng, cal = self.rng, self.cal
        day = _day_of(m)
        deadline = cal.deadline
        r = rng.random()
        if r < 0.015 and p.identity is None and self.all_identities and day < deadline:
            ident = rng.choice(self.all_identities)
            due, _ = self.decide(p, ident)
            if due >= p.due:
                return
            grant = min(deadline, day + timedelta(days=rng.randint(1, 45)))
            g = _minute(grant, rng.randint(8, 17), rng.randrange(60))
            self.emit(g, {"op": "grant_subsidy", "person": p.number, "year": self.year,
                          "identity": ident})
            p.identity, p.due = ident, due
            refund_day = min(deadline, grant + timedelta(days=rng.randint(0, 7)))
            self.emit(max(g + 30, _minute(refund_day, 16)),
                      {"op": "refund", "person": p.number, "year": self.year,
                       "reason": "subsidy_eligibility", "channel": "bank_counter"})
        elif r < 0.018 and p.identity is None and self.all_identities:
            # recognised after the deadline: the payment is not refunded
            ident = rng.choice(self.all_identities)
            grant = cal.year_start + timedelta(days=rng.randint(10, 80))
            g = _minute(grant, rng.randint(8, 17), rng.randrange(60))
            self.emit(g, {"op": "grant_subsidy", "person": p.number, "year": self.year,
                          "identity": ident})
            self.emit(g + 60 * 24 * rng.randint(1, 10),
                      {"op": "refund", "person": p.number, "year": self.year,
                       "reason": "subsidy_eligibility"})
            p.identity = ident
        elif r < 0.03:
            second = self.later_day(day, 1, 10, deadline - timedelta(days=1), p.category)
            if second is None:
                return
            s = _minute(second, rng.randint(8, 19), rng.randrange(60))
            self.pay(s, p, p.due, payer, relation)
            refund_day = min(deadline, second + timedelta(days=rng.randint(1, 6)))
            self.emit(max(s + 60, _minute(refund_day, 17)),
                      {"op": "refund", "person": p.number, "year": self.year,
                       "reason": "duplicate_payment", "channel": "bank_counter"})
        elif (r < 0.035 and not is_head and p.role in ("spouse", "child")
              and 22 <= age_on(p.birth, day) <= 55):
            report = day + timedelta(days=rng.randint(2, 30))
            if report >= deadline:
                return
            s = _minute(report, rng.randint(8, 17), rng.randrange(60))
            self.emit(s, {"op": "report_employee_insurance", "person": p.number,
                          "year": self.year})
            refund_day = min(deadline, report + timedelta(days=rng.randint(1, 5)))
            self.emit(max(s + 60, _minute(refund_day, 17)),
                      {"op": "refund", "person": p.number, "year": self.year,
                       "reason": "duplicate_enrollment", "channel": "bank_counter"})
            p.switcher, p.covered_from = True, None
        elif r < 0.038:
            # the tax bureau's feed sends the same payment line twice
            for row in reversed(self.rows):
                if row[3].get("op") == "pay" and row[3].get("person") == p.number:
                    self.emit(row[0], dict(row[3]))
                    break
