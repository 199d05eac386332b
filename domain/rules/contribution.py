"""What a person owes for a benefit year: the standard by age class, the one subsidy, the due."""

from __future__ import annotations

from datetime import date

from attrs import frozen

from domain.identity import age_on
from domain.money import ZERO, Money
from domain.policy import Policy


@frozen
class ContributionDecision:
    standard: Money
    subsidy: Money
    subsidy_basis: str | None  # the identity code, "age_<n>", or None
    due: Money
    explanation: str


def age_reference_day(policy: Policy) -> date:
    """Ages that decide age classes and age exemptions are taken on 1 Jan of the benefit year."""
    return policy.year_start


def contribution_standard(policy: Policy, birth: date, category: str) -> tuple[Money, str]:
    """The individual standard: free for newborns where the birth year needs no payment;
    otherwise the minor standard below the policy's age, else the adult one."""
    if category == "newborn" and policy.newborn.free_in_birth_year and birth.year == policy.year:
        return ZERO, f"a newborn pays nothing in the birth year ({policy.ref})"
    c = policy.contribution
    if c.minor is not None:
        age = age_on(birth, age_reference_day(policy))
        if age < c.minor_under_age:
            return c.minor, f"minor standard {c.minor} (age {max(age, 0)} < {c.minor_under_age})"
        return c.individual, f"adult standard {c.individual} (age {age})"
    return c.individual, f"individual standard {c.individual}"


def subsidy_amount(policy: Policy, standard: Money, identity: str | None,
                   birth: date) -> tuple[Money, str | None, str]:
    """The single largest subsidy the person qualifies for, never more than the standard."""
    options: list[tuple[Money, str, str]] = []
    rule = policy.subsidies.rule_for(identity)
    if rule is not None:
        if rule.kind == "full":
            amount, how = standard, "full subsidy"
        elif rule.kind == "percent":
            amount = standard.times(rule.percent / 100)
            how = f"{rule.percent}% of the standard"
            if rule.floor is not None and amount < rule.floor:
                amount, how = rule.floor, f"{how}, raised to the floor {rule.floor}"
        else:
            amount, how = rule.amount, f"fixed {rule.amount}"
        options.append((min(amount, standard), identity, f"{identity}: {how}"))
    elif identity is not None:
        options.append((ZERO, identity, f"{identity}: no subsidy under {policy.ref}"))
    full_age = policy.subsidies.full_from_age
    if full_age is not None and age_on(birth, age_reference_day(policy)) >= full_age:
        options.append((standard, f"age_{full_age}", f"aged {full_age} or over: full subsidy"))
    if not options:
        return ZERO, None, "no subsidy"
    amount, basis, text = max(options, key=lambda o: o[0])
    if amount > standard:
        amount = standard
    return amount, basis, f"{text} = {amount}"


def decide_contribution(policy: Policy, birth: date, category: str,
                        identity: str | None) -> ContributionDecision:
    """Standard − subsidy = due (at most one subsidy per person-year, capped at the standard)."""
    standard, why_standard = contribution_standard(policy, birth, category)
    subsidy, basis, why_subsidy = subsidy_amount(policy, standard, identity, birth)
    due = standard - subsidy
    return ContributionDecision(
        standard=standard,
        subsidy=subsidy,
        subsidy_basis=basis,
        due=due,
        explanation=f"{why_standard}; {why_subsidy}; due {due} ({policy.ref})",
    )
