"""Building a `Policy` from a plain mapping (parsed TOML), validating every field.

`policy_from_mapping` raises `PolicyError` naming the source and the dotted field on any bad
value; `merge` lays one mapping over another (for `extends` and what-if patches); `content_hash`
fingerprints a policy's merged content. Nothing here reads files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import InvalidInput, PolicyError
from domain.money import ZERO, Money
from domain.policy import (
    CATEGORIES,
    CAUSES,
    CHANNELS,
    ELIGIBILITY_SCOPES,
    IDENTITIES,
    LATE_COVERAGE,
    PAYER_RELATIONS,
    POOLINGS,
    SUBSIDY_KINDS,
    Contribution,
    Eligibility,
    HouseholdRules,
    LateEnrollment,
    NewbornRule,
    Outpatient,
    PaymentRules,
    Period,
    Policy,
    RefundRules,
    Subsidies,
    SubsidyRule,
    WaitingPeriod,
    Window,
)


class _Reader:
    """Reads typed values from a nested mapping, naming the dotted field on any error."""

    def __init__(self, source: str, data: Mapping[str, Any], prefix: str = "") -> None:
        self.source = source
        self.data = data
        self.prefix = prefix
        self.seen: set[str] = set()

    def path(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, problem: str) -> PolicyError:
        return PolicyError(self.source, self.path(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = ..., required: bool = False) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required or default is ...:
                raise self.fail(key, "is required")
            return default
        return self.data[key]

    def section(self, key: str, required: bool = True) -> _Reader:
        value = self.raw(key, default=None if not required else ..., required=required)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a table")
        return _Reader(self.source, value, f"{self.path(key)}.")

    def text(self, key: str, default: Any = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def integer(self, key: str, default: Any = ..., low: int = 0, high: int = 10**6) -> int:
        value = self.raw(key, default)
        if type(value) is not int or not (low <= value <= high):
            raise self.fail(key, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    def boolean(self, key: str, default: Any = ...) -> bool:
        value = self.raw(key, default)
        if type(value) is not bool:
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def day(self, key: str, default: Any = ...) -> date | None:
        value = self.raw(key, default)
        if value is None:
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(key, f"must be a date YYYY-MM-DD, got {value!r}")

    def money(self, key: str, default: Any = ...) -> Money | None:
        value = self.raw(key, default)
        if value is None or isinstance(value, Money):
            return value
        try:
            amount = Money.parse(value if isinstance(value, str) else _reject_number(value))
        except InvalidInput as e:
            raise self.fail(key, e.message) from None
        if amount.is_negative():
            raise self.fail(key, "must not be negative")
        return amount

    def decimal(self, key: str, default: Any = ..., low: str = "0", high: str = "1") -> Decimal:
        value = self.raw(key, default)
        if isinstance(value, Decimal):
            d = value
        else:
            if not isinstance(value, str):
                raise self.fail(key, f"must be a decimal string such as \"0.55\", got {value!r}")
            try:
                d = Decimal(value)
            except InvalidOperation:
                raise self.fail(key, f"must be a decimal string, got {value!r}") from None
        if not d.is_finite() or not (Decimal(low) <= d <= Decimal(high)):
            raise self.fail(key, f"must lie between {low} and {high}, got {value!r}")
        return d

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        value = self.raw(key, default)
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def choices(self, key: str, options: tuple[str, ...], default: Any = ...) -> tuple[str, ...]:
        value = self.raw(key, default)
        if not isinstance(value, list | tuple) or any(v not in options for v in value):
            raise self.fail(key, f"must be a list drawn from {', '.join(options)}, got {value!r}")
        return tuple(value)

    def period(self, key: str) -> Period | None:
        value = self.raw(key, None)
        if value is None:
            return None
        if not isinstance(value, Mapping) or set(value) - {"months", "days"} or not value:
            raise self.fail(key, "must be a table with months and/or days")
        sub = _Reader(self.source, value, f"{self.path(key)}.")
        return Period(months=sub.integer("months", 0, 0, 120), days=sub.integer("days", 0, 0, 3650))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.fail(unknown[0], "is not a field the ledger knows")


def _reject_number(value: Any) -> Any:
    return value  # Money.parse refuses non-strings with a clear message


def policy_from_mapping(data: Mapping[str, Any], source: str) -> Policy:
    """Validate a parsed policy file (after any `extends` merge) into a `Policy`."""
    r = _Reader(source, data)
    pid = r.text("id")
    version = str(r.raw("version"))
    name = r.text("name", pid)
    region = r.raw("region")
    if (not isinstance(region, str) or not (region.isascii() and region.isdigit())
            or not 2 <= len(region) <= 6):
        raise r.fail("region", f"must be a code prefix of 2 to 6 digits, got {region!r}")
    year = r.integer("year", low=2000, high=2100)
    seed = r.text("seed")
    r.raw("extends", None)
    r.raw("description", None)

    c = r.section("contribution")
    contribution = Contribution(
        individual=c.money("individual"),
        fiscal=c.money("fiscal", ZERO),
        minor=c.money("minor", None),
        minor_under_age=c.integer("minor_under_age", 18, 1, 30),
    )
    c.done()

    s = r.section("subsidy", required=False)
    rules = []
    ids = s.section("identities", required=False)
    for identity in sorted(ids.data):
        if identity not in IDENTITIES:
            raise ids.fail(identity, f"is not a hardship identity code ({', '.join(IDENTITIES)})")
        one = ids.section(identity)
        kind = one.choice("kind", SUBSIDY_KINDS)
        rule = SubsidyRule(
            identity=identity,
            kind=kind,
            percent=one.decimal("percent", None, "0", "100") if kind == "percent" else None,
            amount=one.money("amount") if kind == "fixed" else None,
            floor=one.money("floor", None) if kind == "percent" else None,
        )
        if kind == "percent" and rule.percent is None:
            raise one.fail("percent", "is required for a percent subsidy")
        one.done()
        rules.append(rule)
    ids.done()
    full_age = s.raw("full_from_age", None)
    if full_age is not None:
        full_age = s.integer("full_from_age", low=1, high=150)
    subsidies = Subsidies(rules=tuple(rules), full_from_age=full_age)
    s.done()

    col = r.section("collection")
    windows = []
    raw_windows = col.raw("windows")
    if not isinstance(raw_windows, list) or not raw_windows:
        raise col.fail("windows", "must be a non-empty list of windows")
    for i, w in enumerate(raw_windows):
        if not isinstance(w, Mapping):
            raise col.fail(f"windows[{i}]", "must be a table")
        wr = _Reader(source, w, f"collection.windows[{i}].")
        dom = wr.raw("days_of_month", None)
        if dom is not None:
            if (
                not isinstance(dom, list) or len(dom) != 2
                or any(type(d) is not int or not 1 <= d <= 31 for d in dom) or dom[0] > dom[1]
            ):
                raise wr.fail("days_of_month", "must be [first, last] days between 1 and 31")
            dom = (dom[0], dom[1])
        window = Window(
            name=wr.text("name", "collection"),
            start=wr.day("start"),
            end=wr.day("end"),
            categories=wr.choices("categories", CATEGORIES),
            days_of_month=dom,
            covered_from=wr.day("covered_from", None),
        )
        if window.end < window.start:
            raise wr.fail("end", "is before start")
        wr.done()
        windows.append(window)
    col.done()

    lr = r.section("late", required=False)
    late = LateEnrollment(
        until=lr.day("until", None),
        coverage=lr.choice("coverage", LATE_COVERAGE, "payment_date"),
        categories=lr.choices("categories", CATEGORIES, ["general"]),
        requires_prior_insurance=lr.boolean("requires_prior_insurance", False),
    )
    lr.done()

    wt = r.section("waiting", required=False)
    waiting = WaitingPeriod(
        fixed_months=wt.integer("fixed_months", 0, 0, 24),
        variable_months_per_broken_year=wt.integer("variable_months_per_broken_year", 0, 0, 12),
        broken_years_not_counted=wt.integer("broken_years_not_counted", 0, 0, 10),
        months_removed_per_back_paid_year=wt.integer(
            "months_removed_per_back_paid_year", 0, 0, 12
        ),
        long_break_years=wt.integer("long_break_years", 0, 0, 50),
        long_break_min_months=wt.integer("long_break_min_months", 0, 0, 24),
        exempt_identities=wt.choices("exempt_identities", IDENTITIES, []),
    )
    wt.done()
    if late.coverage == "waiting_period" and not wt.has("fixed_months"):
        raise PolicyError(source, "waiting.fixed_months", "is required when late.coverage is "
                          "waiting_period")

    nb = r.section("newborn", required=False)
    newborn = NewbornRule(
        free_in_birth_year=nb.boolean("free_in_birth_year", False),
        from_birth_if_paid_within=nb.period("from_birth_if_paid_within"),
        from_payment_if_paid_within=nb.period("from_payment_if_paid_within"),
        previous_year_births=nb.boolean("previous_year_births", False),
    )
    nb.done()

    pr = r.section("payment", required=False)
    ages = pr.raw("self_pay_online_ages", None)
    if ages is not None:
        if (
            not isinstance(ages, list) or len(ages) != 2
            or any(type(a) is not int or not 0 <= a <= 150 for a in ages) or ages[0] > ages[1]
        ):
            raise pr.fail("self_pay_online_ages", "must be [youngest, oldest] ages")
        ages = (ages[0], ages[1])
    payment = PaymentRules(
        online_channels=pr.choices("online_channels", CHANNELS, []),
        self_pay_online_ages=ages,
        subsidised_may_pay_online=pr.boolean("subsidised_may_pay_online", True),
        employee_account_relations=(pr.choices("employee_account_relations", PAYER_RELATIONS)
                                    if pr.has("employee_account_relations") else None),
    )
    pr.done()

    hh = r.section("household", required=False)
    household = HouseholdRules(head_must_pay_first=hh.boolean("head_must_pay_first", False))
    hh.done()

    rf = r.section("refund")
    refund = RefundRules(
        deadline=rf.day("deadline"),
        requests_within_deadline=rf.boolean("requests_within_deadline", False),
        online_requests=rf.boolean("online_requests", True),
    )
    rf.done()

    op = r.section("outpatient")
    outpatient = Outpatient(
        ratio=op.decimal("ratio", low="0", high="1"),
        per_person_cap=op.money("per_person_cap"),
        pooling=op.choice("pooling", POOLINGS, "household"),
        max_facility_level=op.integer("max_facility_level", 1, 0, 3),
        in_county_only=op.boolean("in_county_only", True),
        excluded_causes=op.choices("excluded_causes", CAUSES, []),
        deductible=op.money("deductible", ZERO),
    )
    op.done()

    eligibility = None
    if r.has("eligibility"):
        el = r.section("eligibility")
        eligibility = Eligibility(
            scope=el.choice("scope", ELIGIBILITY_SCOPES, "county"),
            hukou=el.boolean("hukou", True),
            residence_permit=el.boolean("residence_permit", True),
            spouses_of_locals=el.boolean("spouses_of_locals", False),
            local_school_students=el.boolean("local_school_students", True),
            college_students_at_school_only=el.boolean("college_students_at_school_only", False),
        )
        el.done()

    assumptions = _notes(r, "assumptions")
    references = _notes(r, "references")
    r.done()

    policy = Policy(
        id=pid, version=version, name=name, region=region, year=year, seed=seed,
        contribution=contribution, subsidies=subsidies, windows=tuple(windows), late=late,
        waiting=waiting, newborn=newborn, payment=payment, household=household, refund=refund,
        outpatient=outpatient, eligibility=eligibility, assumptions=assumptions,
        references=references, content_hash=content_hash(data),
    )
    known = _field_paths(data)
    for table, notes in (("assumptions", assumptions), ("references", references)):
        for key, _ in notes:
            if key not in known:
                raise PolicyError(source, f"{table}.{key}", "names no field of this policy")
    return policy


def _notes(r: _Reader, key: str) -> tuple[tuple[str, str], ...]:
    table = r.raw(key, None) or {}
    if not isinstance(table, Mapping):
        raise r.fail(key, "must be a table of field = note")
    out = []
    for k, v in table.items():
        if not isinstance(v, str) or not v.strip():
            raise PolicyError(r.source, f"{key}.{k}", "must be a sentence")
        out.append((str(k), v))
    return tuple(sorted(out))


def _field_paths(data: Mapping[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for k, v in data.items():
        if k in ("assumptions", "references"):
            continue
        path = f"{prefix}{k}"
        paths.add(path)
        if isinstance(v, Mapping):
            paths |= _field_paths(v, f"{path}.")
    return paths


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def content_hash(data: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a policy's merged content."""
    canonical = json.dumps(_jsonable(data), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge a patch over a base mapping: tables merge, anything else replaces."""
    out = dict(base)
    for k, v in patch.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out
