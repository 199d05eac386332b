"""The policy schema: one region's rules for one benefit year, as frozen classes.

Also the code lists a policy draws from (categories, hardship identities, payment channels,
causes). Building a `Policy` from a parsed file is `domain.policy_parsing`; finding the policy in
force is `domain.policy_book`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from attrs import frozen

from domain.money import ZERO, Money

CATEGORIES = ("general", "student", "newborn", "returning_migrant_worker")
IDENTITIES = (
    "tekun", "dibao", "dibao_edge", "low_income", "disabled", "severe_disability", "entitled",
    "orphan", "unsupported_child", "monitored", "at_risk", "returned_to_poverty",
    "stably_lifted", "ethnic_minority", "filed_poor",
)
CHANNELS = (
    "wechat", "alipay", "bank_app", "bank_counter", "bank_debit", "tax_online", "tax_pos",
    "cash", "collective_agent", "employee_account", "school",
)
CAUSES = (
    "ordinary", "work_injury", "third_party", "public_health", "overseas", "cosmetic",
    "incarceration",
)
#: How a payer stands to the insured person: the payer is their parent, spouse, child, …
PAYER_RELATIONS = ("self", "parent", "spouse", "child", "agent", "other")
#: Channels that are online by nature: a refund requested through one is an online request.
ONLINE_CHANNELS = ("wechat", "alipay", "bank_app", "tax_online")
POOLINGS = ("household", "person")
SUBSIDY_KINDS = ("full", "percent", "fixed")
LATE_COVERAGE = ("payment_date", "waiting_period")
ELIGIBILITY_SCOPES = ("county", "city")


@frozen
class Period:
    """A span added to a date: some months and/or days."""

    months: int = 0
    days: int = 0

    def __str__(self) -> str:
        parts = []
        if self.months:
            parts.append(f"{self.months} month{'s' if self.months != 1 else ''}")
        if self.days:
            parts.append(f"{self.days} day{'s' if self.days != 1 else ''}")
        return " ".join(parts) or "0 days"


@frozen
class Window:
    """A collection window: who may pay, when, and from when the payment covers."""

    start: date
    end: date
    categories: tuple[str, ...]
    days_of_month: tuple[int, int] | None = None
    covered_from: date | None = None  # None: the first day of the benefit year
    name: str = "collection"

    def admits(self, day: date, category: str) -> bool:
        if category not in self.categories or not (self.start <= day <= self.end):
            return False
        if self.days_of_month is not None:
            first, last = self.days_of_month
            return first <= day.day <= last
        return True


@frozen
class LateEnrollment:
    """Payments after every window closed: until when, for whom, and how coverage starts."""

    until: date | None = None
    coverage: str = "payment_date"
    categories: tuple[str, ...] = ("general",)
    requires_prior_insurance: bool = False


@frozen
class WaitingPeriod:
    """Benefit waiting period for late payers (seed 004)."""

    fixed_months: int = 0
    variable_months_per_broken_year: int = 0
    broken_years_not_counted: int = 0
    months_removed_per_back_paid_year: int = 0
    long_break_years: int = 0
    long_break_min_months: int = 0
    exempt_identities: tuple[str, ...] = ()


@frozen
class NewbornRule:
    """How a newborn is covered: a baby enrolled in its birth year, and (where
    `previous_year_births`) a baby born the year before whose newborn period from birth reaches
    into the benefit year (ADR 62)."""

    free_in_birth_year: bool = False
    from_birth_if_paid_within: Period | None = None
    from_payment_if_paid_within: Period | None = None
    previous_year_births: bool = False


@frozen
class SubsidyRule:
    """The subsidy one hardship identity earns: full, a percentage (with floor), or fixed."""

    identity: str
    kind: str
    percent: Decimal | None = None
    amount: Money | None = None
    floor: Money | None = None


@frozen
class Contribution:
    """The individual contribution standard, possibly by age class."""

    individual: Money
    fiscal: Money = ZERO
    minor: Money | None = None
    minor_under_age: int = 18


@frozen
class Subsidies:
    rules: tuple[SubsidyRule, ...] = ()
    full_from_age: int | None = None

    def rule_for(self, identity: str | None) -> SubsidyRule | None:
        for rule in self.rules:
            if rule.identity == identity:
                return rule
        return None


@frozen
class PaymentRules:
    """Who may pay through which channel."""

    online_channels: tuple[str, ...] = ()
    self_pay_online_ages: tuple[int, int] | None = None
    subsidised_may_pay_online: bool = True
    #: The payer relations an employee's medical personal account may pay for (seed 003), each
    #: payer in employee insurance; None: the channel is not restricted (ADR 63).
    employee_account_relations: tuple[str, ...] | None = None


@frozen
class HouseholdRules:
    head_must_pay_first: bool = False


@frozen
class Eligibility:
    """Who may enroll in the county (ADR 66): local hukou, a local residence permit, a local
    spouse, a local school; "local" by county or by prefecture (`scope`)."""

    scope: str = "county"
    hukou: bool = True
    residence_permit: bool = True
    spouses_of_locals: bool = False
    local_school_students: bool = True
    college_students_at_school_only: bool = False


@frozen
class RefundRules:
    """Until when a refund may be had, and what date counts for each reason."""

    deadline: date
    requests_within_deadline: bool = False
    #: Whether a refund may be requested through an online channel (001: 不支持线上退费).
    online_requests: bool = True


@frozen
class Outpatient:
    """General outpatient benefit at primary facilities."""

    ratio: Decimal
    per_person_cap: Money
    pooling: str = "household"
    max_facility_level: int = 1
    in_county_only: bool = True
    excluded_causes: tuple[str, ...] = ()
    deductible: Money = ZERO


@frozen
class Policy:
    """One region's (or prefix's) rules for one benefit year."""

    id: str
    version: str
    name: str
    region: str
    year: int
    seed: str
    contribution: Contribution
    subsidies: Subsidies
    windows: tuple[Window, ...]
    late: LateEnrollment
    waiting: WaitingPeriod
    newborn: NewbornRule
    payment: PaymentRules
    household: HouseholdRules
    refund: RefundRules
    outpatient: Outpatient
    eligibility: Eligibility | None = None
    assumptions: tuple[tuple[str, str], ...] = ()
    references: tuple[tuple[str, str], ...] = ()
    content_hash: str = ""

    @property
    def ref(self) -> str:
        """`id@version`, as recorded on every decision."""
        return f"{self.id}@{self.version}"

    @property
    def year_start(self) -> date:
        return date(self.year, 1, 1)

    @property
    def year_end(self) -> date:
        return date(self.year, 12, 31)

    def reference_for(self, path: str) -> str | None:
        """The seed sentence behind a field (or its nearest parent), or the assumption note."""
        parts = path.split(".")
        while parts:
            key = ".".join(parts)
            for k, text in self.references:
                if k == key:
                    return text
            for k, text in self.assumptions:
                if k == key:
                    return f"assumption: {text}"
            parts.pop()
        return None
