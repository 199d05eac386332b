"""A deterministic synthetic county: one regime's benefit year as a command file.

`generate_county` builds households of plausible structure (couples, children, elderly
parents, single elderly, a few students living on their own), then writes the year's history
as contract commands in business-time order: registrations, enrollments (the head first, then
the members naming the head), payments, the odd subsidy recognised late and refunded, duplicate
payments refunded, late payers, newborns, people in employee insurance, and finally outpatient
claims through the benefit year (with a few reversals and idempotent re-sends).

Every date the generator chooses is derived from the regime's policy (windows, late period,
newborn rule, refund deadline), and what each person owes and from when they are covered is
computed with the domain's own rules, so the claims land on covered days. A small, deliberate
share of commands is refused by the ledger, as in real feeds: visits at county hospitals or
outside the county, excluded causes, payments after the window, clerks' double entries.

Only `random.Random(seed)` is used: the same arguments give the same lines, on any machine.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from stdnum.cn import ric

from domain.errors import Rejected
from domain.identity import age_on
from domain.policy import Policy, Window
from domain.policy_book import PolicyBook
from domain.rules.collection import newborn_period_end
from domain.rules.contribution import decide_contribution
from domain.rules.coverage import CoverageFacts, coverage_start, waiting_months

# --- places ---------------------------------------------------------------------------------

#: County-level divisions generated for each regime (policy id); households are spread evenly.
COUNTIES: dict[str, tuple[str, ...]] = {
    "fuyang-2021": ("341225", "341221"),  # Funan, Linquan
    "lishui-liandu-2020": ("331102",),  # Liandu
    "lishui-2020": ("331121", "331122", "331126"),  # Qingtian, Jinyun, Qingyuan
    "lishui-longquan-2020": ("331181",),  # Longquan
    "lishui-jingning-2020": ("331127",),  # Jingning She autonomous county
    "yangcheng-2022": ("140522",),  # Yangcheng
    "hunan-2023": ("430121",),  # Changsha county
    "hunan-2024": ("430121",),
    "gaizhou-2025": ("210881",),  # Gaizhou
}

#: Neighbouring divisions: birthplaces of people who married in, out-of-county clinics.
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "341225": ("341221", "341226", "341222"),
    "341221": ("341225", "341222", "341282"),
    "331102": ("331121", "331122", "331124"),
    "331121": ("331102", "331122"),
    "331122": ("331102", "331121"),
    "331126": ("331181", "331125"),
    "331181": ("331126", "331123"),
    "331127": ("331102", "331125"),
    "140522": ("140521", "140525", "140581"),
    "430121": ("430102", "430181", "430111"),
    "210881": ("210882", "210804"),
}

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
            "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史")
GIVEN = ("伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国志红玉梅春生海燕文德福荣"
         "晓东子豪宇轩浩然欣怡梓涵雨婷佳琪思远俊杰嘉怡昊天博文一诺")

OFFLINE = ("bank_counter", "tax_pos", "cash", "collective_agent", "bank_debit")
OFFLINE_WEIGHTS = (25, 20, 25, 20, 10)
SIZE_WEIGHTS = ((1, 9), (2, 22), (3, 25), (4, 22), (5, 13), (6, 9))
FAMILY_IDENTITIES = ("dibao", "dibao_edge", "monitored", "filed_poor", "low_income", "at_risk",
                     "returned_to_poverty")
PERSONAL_IDENTITIES = ("severe_disability", "disabled", "entitled")
REVERSAL_REASONS = ("clinic billing error", "settled twice at the clinic",
                    "patient returned the medicine")

_BASE = date(2000, 1, 1).toordinal()
_LOG_MEDIAN = math.log(60)
_DAY_TEXT: dict[int, str] = {}


def make_resident_id(region: str, birth: date, seq: int) -> str:
    """A valid GB 11643 resident ID: region, birth date, 3-digit sequence, check character."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region must be 6 digits, got {region!r}")
    if not 0 <= seq <= 999:
        raise ValueError(f"seq must be 0..999, got {seq}")
    base = f"{region}{birth:%Y%m%d}{seq:03d}"
    return base + ric.calc_check_digit(base + "0")


def counties_for(policy: Policy) -> tuple[str, ...]:
    """The counties generated for a regime: the table above, or the policy's own county."""
    if policy.id in COUNTIES:
        return COUNTIES[policy.id]
    if len(policy.region) == 6:
        return (policy.region,)
    raise ValueError(f"no county codes are known for the regime {policy.id} (region prefix "
                     f"{policy.region}); add them to adapters.generator.COUNTIES")


def find_regime(book: PolicyBook, regime: str) -> Policy:
    for policy in book.in_force():
        if policy.id == regime:
            return policy
    known = ", ".join(sorted({p.id for p in book}))
    raise ValueError(f"unknown regime {regime!r}; one of: {known}")


# --- small helpers ---------------------------------------------------------------------------


def _minute(day: date, hour: int, minute: int = 0) -> int:
    return (day.toordinal() - _BASE) * 1440 + hour * 60 + minute


def _day_of(m: int) -> date:
    return date.fromordinal(_BASE + m // 1440)


def _day_text(ordinal: int) -> str:
    text = _DAY_TEXT.get(ordinal)
    if text is None:
        text = _DAY_TEXT[ordinal] = date.fromordinal(ordinal).isoformat()
    return text


def _at(m: int) -> str:
    days, rest = divmod(m, 1440)
    hour, minute = divmod(rest, 60)
    return f"{_day_text(_BASE + days)}T{hour:02d}:{minute:02d}:00+08:00"


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


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


class _Person:
    __slots__ = ("number", "name", "birth", "male", "role", "employee", "category", "identity",
                 "due", "subsidy", "region", "covered_from", "ready", "claims", "switcher",
                 "uncovered_claim")

    def __init__(self, number: str, name: str, birth: date, male: bool, role: str) -> None:
        self.number = number
        self.name = name
        self.birth = birth
        self.male = male
        self.role = role
        self.employee = False
        self.category = "general"
        self.identity: str | None = None
        self.due = 0
        self.subsidy = 0
        self.region = ""
        self.covered_from: date | None = None
        self.ready = 0  # the minute from which the ledger knows the coverage
        self.claims = True
        self.switcher = False
        self.uncovered_claim = False


class _Calendar:
    """The regime's dates, read from its policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        general = [w for w in policy.windows if "general" in w.categories]
        if not general:
            raise ValueError(f"{policy.ref} has no collection window for general enrollees")
        self.general = general
        self.start = min(w.start for w in general)
        self.end = max(w.end for w in general)
        self.student_only: Window | None = next(
            (w for w in policy.windows if w.categories == ("student",)), None)
        self.rmw_only: Window | None = next(
            (w for w in policy.windows if "returning_migrant_worker" in w.categories
             and "general" not in w.categories and w.end > self.end), None)
        late = policy.late
        self.late_open = bool(late.until and late.until > self.end
                              and "general" in late.categories)
        self.late_until = late.until
        self.late_needs_prior = late.requires_prior_insurance
        self.waiting = late.coverage == "waiting_period"
        self.deadline = policy.refund.deadline
        self.year_start = policy.year_start
        self.year_end = policy.year_end
        self.student_in_general = any("student" in w.categories for w in general)

    def admits(self, day: date, category: str) -> bool:
        return any(w.admits(day, category) for w in self.policy.windows)


# --- the generator ---------------------------------------------------------------------------


class _County:
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

    def run(self) -> Iterator[dict[str, Any]]:
        for i in range(self.households):
            self.hh, self.seq = i, 0
            self.household()
        self.rows.sort()  # (minute, household, sequence) is unique: dicts never compared
        for m, _, _, fields in self.rows:
            fields["at"] = _at(m)
            yield fields
        self.rows = []

    # --- people ------------------------------------------------------------------------------

    def new_person(self, county: str, birth: date, male: bool, role: str,
                   surname: str | None = None) -> _Person:
        rng = self.rng
        region = county
        if role in ("spouse", "parent") and rng.random() < 0.15:
            region = rng.choice(NEIGHBOURS.get(county, (county,)))
        seq = 2 * rng.randrange(0, 499) + (1 if male else 2)
        number = make_resident_id(region, birth, seq)
        while number in self.used_ids:
            seq = seq + 2 if seq + 2 <= 999 else (1 if male else 2)
            number = make_resident_id(region, birth, seq)
        self.used_ids.add(number)
        name = (surname or rng.choice(SURNAMES)) + "".join(
            rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return _Person(number, name, birth, male, role)

    def born(self, age: int, reference: date) -> date:
        """A birth date making someone `age` at the reference day (before any registration)."""
        day = reference - timedelta(days=self.rng.randrange(1, 365))
        try:
            return day.replace(year=day.year - age)
        except ValueError:  # 29 Feb
            return day.replace(year=day.year - age, day=28)

    def family(self, county: str) -> list[_Person]:
        rng = self.rng
        ref = self.cal.start - timedelta(days=1)
        size = rng.choices([s for s, _ in SIZE_WEIGHTS], [w for _, w in SIZE_WEIGHTS])[0]
        surname = rng.choice(SURNAMES)
        head_male = rng.random() < 0.72
        members: list[tuple[int, bool, str]] = []  # (age, male, role)
        if size == 1:
            age = rng.randint(62, 95) if rng.random() < 0.6 else rng.randint(20, 61)
            members.append((age, head_male, "head"))
        else:
            r = rng.random()
            children, parents = 0, 0
            if size == 2:
                single_parent = r < 0.2
                children = 1 if single_parent else 0
                head_age = rng.randint(28, 55) if single_parent else rng.randint(22, 88)
            else:
                extra = size - 2
                parents = rng.choices([0, 1, 2], [55, 30, 15])[0] if extra > 1 else (
                    1 if r < 0.25 else 0)
                parents = min(parents, extra - 1 if extra > 1 else parents)
                children = extra - parents
                head_age = rng.randint(26, 55) if parents == 0 else rng.randint(30, 60)
            members.append((head_age, head_male, "head"))
            if not (size == 2 and children):
                spouse_age = max(20, min(95, head_age + rng.randint(-6, 4)))
                members.append((spouse_age, not head_male, "spouse"))
            for _ in range(children):
                gap = rng.randint(22, 36)
                members.append((max(0, head_age - gap - rng.randint(0, 6)),
                                rng.random() < 0.52, "child"))
            for k in range(parents):
                members.append((min(95, head_age + rng.randint(22, 34)), k == 0, "parent"))
        people = []
        for age, male, role in members:
            same_name = role in ("head", "child") or (role == "parent" and male)
            p = self.new_person(county, self.born(age, ref), male, role,
                                surname if same_name else None)
            people.append(p)
        return people

    # --- channels ------------------------------------------------------------------------------

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

    # --- commands ------------------------------------------------------------------------------

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

    # --- one household -------------------------------------------------------------------------

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

    # --- claims ----------------------------------------------------------------------------------

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


# --- public API ----------------------------------------------------------------------------------


def generate_county(households: int, regime: str = "fuyang-2021", seed: int = 0,
                    book: PolicyBook | None = None, visit_rate: float = 1.0
                    ) -> Iterator[dict[str, Any]]:
    """Yield a synthetic county's commands (JSON-ready dicts) in business-time order;
    `visit_rate` multiplies everyone's expected outpatient visits (a denser claims history)."""
    if households < 0:
        raise ValueError("households must be zero or more")
    if not 0 <= visit_rate <= 20:
        raise ValueError("visit_rate must lie between 0 and 20")
    if book is None:
        from adapters.stores.policy_files import load_policy_book

        book = load_policy_book()
    policy = find_regime(book, regime)
    for county in counties_for(policy):
        found = book.find(county, policy.year)
        if found is None or found.id != policy.id:
            raise ValueError(f"county {county} is decided by "
                             f"{found.ref if found else 'no policy'}, not {policy.ref}")
    return _County(households, policy, seed, visit_rate).run()


def write_county(path: str | Path, households: int, regime: str = "fuyang-2021",
                 seed: int = 0, book: PolicyBook | None = None, visit_rate: float = 1.0) -> int:
    """Write a generated county as JSON Lines (UTF-8); returns the number of lines."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for cmd in generate_county(households, regime, seed, book, visit_rate):
            f.write(json.dumps(cmd, ensure_ascii=False, separators=(",", ":")))
            f.write("\n")
            count += 1
    return count
