"""Who may pay for whom through which channel: an employee's medical personal account (003)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from domain.errors import Rejected
from domain.policy import Policy


def check_employee_account(policy: Policy, channel: str, relation: str,
                           payer_employee_years: Collection[int], year: int, day: date) -> None:
    """003: 职工医保卡个人账户里的资金可为自己的父母、配偶、子女缴纳居民医保费.

    The account pays only for the payer's own close family (the policy's relations), and only
    a payer in employee insurance for the benefit year or in the year of the payment has one
    (ADR 63)."""
    allowed = policy.payment.employee_account_relations
    if channel != "employee_account" or allowed is None:
        return
    if relation not in allowed:
        raise Rejected("payer_not_allowed", f"an employee's personal account pays only for "
                       f"relations {', '.join(allowed)} of its holder, not {relation} "
                       f"({policy.ref})")
    if year not in payer_employee_years and day.year not in payer_employee_years:
        raise Rejected("payer_not_allowed", f"the payer is not known to be in employee "
                       f"insurance for {year} or {day.year}, so has no employee personal "
                       f"account to pay from ({policy.ref})")
