"""One household's year at the desk: registrations and enrollments, head first.

The household is drawn, its members' identities and categories decided, then registered and
enrolled (the head first, then the members naming the head), each settling through
`_Payments`; beside the ordinary run come late households, clerks' double entries, returning
migrant workers, newborns and students on their own. Every covered person then visits clinics.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

from adapters.generator.claims import _Claims
from adapters.generator.clock import _day_of, _minute
from adapters.generator.families import _Families
from adapters.generator.payments import _Payments
from adapters.generator.person import _Person
from domain.identity import age_on
from domain.rules.collection import newborn_period_end
from domain.rules.coverage import waiting_months


class _Households(_Families, _Payments, _Claims):
    """Writes one household's registrations and enrollments, and the special cases."""

    def household(self) -> None:
        rng, cal = self.rng, self.cal
        county = rng.choice(self.counties)
        if cal.student_only is not None and rng.random() < 0.04:
            self.student_household(county)
            return
        people = self.family(county)
        head = people[0]
        for p in people:
            p.region = county

        # who is who this year
        for p in people[1:]:
            age = age_on(p.birth, cal.start)
            if 22 <= age <= 55 and rng.random() < 0.07:
                p.employee = True
        ethnic = 0.12 if county == "331127" else 0.01
        if "ethnic_minority" in self.all_identities and rng.random() < ethnic:
            for p in people:
                p.identity = "ethnic_minority"
        elif self.family_identities and rng.random() < 0.03:
            ident = rng.choice(self.family_identities)
            for p in people:
                p.identity = ident
        elif (len(people) == 1 and "tekun" in self.all_identities
              and age_on(head.birth, cal.start) >= 60 and rng.random() < 0.2):
            head.identity = "tekun"
        for p in people:
            if p.identity is None and self.personal_identities and rng.random() < 0.008:
                p.identity = rng.choice(self.personal_identities)
            if (cal.student_in_general and p.role == "child"
                    and 6 <= age_on(p.birth, cal.start) <= 22 and rng.random() < 0.3):
                p.category = "student"
            p.due, p.subsidy = self.decide(p)

        late_household = cal.late_open and rng.random() < 0.03
        late_extra = self.late_fields(late_household)
        if late_household:
            last = min(cal.late_until, cal.end + timedelta(days=150))
            if cal.waiting:  # the waiting period must end inside the benefit year
                months, _ = waiting_months(self.policy, late_extra.get("broken_years", 0),
                                           late_extra.get("back_paid_years", 0))
                last = min(last, cal.year_end - relativedelta(months=months, days=20))
            late_household = last > cal.end
            late_extra = late_extra if late_household else {}
        if late_household:
            d0 = cal.end + timedelta(days=rng.randint(1, (last - cal.end).days))
        else:
            d0 = self.pick_day()
        t = _minute(d0, rng.randint(8, 17), rng.randrange(60))
        for k, p in enumerate(people):
            self.register(t + k, p, county)
        t += len(people) + 1
        for p in people:
            if p.employee:
                self.emit(t, {"op": "report_employee_insurance", "person": p.number,
                              "year": self.year})
                t += 1

        # the head enrolls and pays first
        t += 5
        self.enroll(t, head, county, None, **late_extra)
        settled = self.settle(head, t, d0, late_household, late_extra, head, None)
        if settled is None:
            return  # nothing else can join an unsettled head
        t = settled + rng.randint(2, 15)
        for p in people[1:]:
            if p.employee:
                if rng.random() < 0.12:  # the clerk tries anyway
                    self.enroll(t, p, county, head)
                    t += 1
                continue
            if self.cal.rmw_only is not None and not late_household and self.rmw(p, county,
                                                                              head):
                continue
            self.enroll(t, p, county, head, **late_extra)
            self.mistakes(t, p, county, head)
            # the next member goes on at the desk; this one may pay later (or late)
            self.settle(p, t, _day_of(t), late_household, late_extra, head, people)
            t += rng.randint(4, 8)
        self.newborn(people, county, t)
        for p in people:
            self.claims_of(p, county)

    def late_fields(self, late: bool) -> dict[str, Any]:
        if not late:
            return {}
        if self.cal.late_needs_prior:
            return {"insured_before": True}
        if self.cal.waiting:
            rng = self.rng
            broken = rng.choices([0, 1, 2, 3, 5], [40, 25, 15, 10, 10])[0]
            extra: dict[str, Any] = {"broken_years": broken}
            if broken and rng.random() < 0.3:
                extra["back_paid_years"] = rng.randint(1, broken)
            return extra
        return {}

    # --- special cases -----------------------------------------------------------------------

    def mistakes(self, t: int, p: _Person, county: str, head: _Person) -> None:
        """Clerks' double entries: the same person enrolled twice, or in a second county."""
        r = self.rng.random()
        if r < 0.002:
            self.enroll(t + 1, p, county, head)
        elif r < 0.004:
            other = next((c for c in self.counties if c != county), None)
            if other is not None:
                self.enroll(t + 1, p, other, None)

    def rmw(self, p: _Person, county: str, head: _Person) -> bool:
        """A returning migrant worker: enrolls and pays in the extension after New Year."""
        rng, w = self.rng, self.cal.rmw_only
        age = age_on(p.birth, self.cal.start)
        if not (18 <= age <= 50 and rng.random() < 0.05) or w is None:
            return False
        day = w.start + timedelta(days=rng.randint(0, (w.end - w.start).days))
        m = _minute(day, rng.randint(8, 19), rng.randrange(60))
        p.category = "returning_migrant_worker"
        p.due, p.subsidy = self.decide(p)
        self.enroll(m, p, county, head)
        if p.due:
            self.pay(m + 3, p, p.due)
        p.covered_from = self.coverage(p, day)
        p.ready = m + 3
        return True

    def newborn(self, people: list[_Person], county: str, t: int) -> None:
        rng, cal, policy = self.rng, self.cal, self.policy
        head = people[0]
        if head.covered_from is None and head.due:
            return
        mothers = [p for p in people[:2] if not p.male and 20 <= age_on(p.birth, cal.start) <= 40
                   and p.role in ("head", "spouse")]
        if not mothers or rng.random() > 0.12:
            return
        birth = cal.year_start + timedelta(days=rng.randint(0, 270))
        if newborn_period_end(policy, birth) is None:
            return
        baby = self.new_person(county, birth, rng.random() < 0.52, "child", head.name[0])
        baby.region, baby.category = county, "newborn"
        baby.due, baby.subsidy = self.decide(baby)
        m = max(_minute(birth + timedelta(days=rng.randint(5, 40)), rng.randint(8, 17),
                        rng.randrange(60)), t + 1)
        if _day_of(m) > birth + timedelta(days=60):
            return
        self.register(m, baby, county)
        self.enroll(m + 2, baby, county, head)
        people.append(baby)
        if baby.due == 0:
            baby.covered_from, baby.ready = self.coverage(baby, _day_of(m)), m + 2
            return
        nb = policy.newborn
        if nb.from_payment_if_paid_within and rng.random() < 0.2:
            pay_day = birth + timedelta(days=rng.randint(100, 300))  # pays months later
        else:
            pay_day = min(birth + timedelta(days=80),
                          _day_of(m) + timedelta(days=rng.randint(0, 20)))
        if pay_day > cal.year_end:
            pay_day = cal.year_end
        p_m = max(m + 5, _minute(pay_day, rng.randint(8, 19), rng.randrange(60)))
        self.pay(p_m, baby, baby.due, head, "parent")
        baby.covered_from, baby.ready = self.coverage(baby, _day_of(p_m)), p_m

    def student_household(self, county: str) -> None:
        """A student on their own (seed 004): pays in the students' window, at school."""
        rng, w = self.rng, self.cal.student_only
        age = rng.randint(15, 22)
        p = self.new_person(county, self.born(age, w.start - timedelta(days=1)),
                            rng.random() < 0.5, "head")
        p.region, p.category = county, "student"
        p.due, p.subsidy = self.decide(p)
        day = w.start + timedelta(days=min((w.end - w.start).days,
                                           round(rng.betavariate(1.5, 1.2)
                                                 * (w.end - w.start).days)))
        m = _minute(day, rng.randint(8, 17), rng.randrange(60))
        self.register(m, p, county)
        self.enroll(m + 2, p, county, None)
        if p.due:
            channel = "school" if rng.random() < 0.7 else None
            self.pay(m + 4, p, p.due, channel=channel)
        p.covered_from, p.ready = self.coverage(p, day), m + 4
        self.claims_of(p, county)
