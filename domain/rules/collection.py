"""When a contribution may be received: collection windows, late periods, newborn periods."""

from __future__ import annotations

from datetime import date

from attrs import evolve, frozen
from dateutil.relativedelta import relativedelta

from domain.errors import InvalidInput, Rejected
from domain.identity import age_on
from domain.policy import Period, Policy, Window


@frozen
class Acceptance:
    """Which period admitted a payment (window name, "late" or "newborn")."""

    period: str
    window: Window | None
    explanation: str


def add_period(day: date, period: Period) -> date:
    return day + relativedelta(months=period.months, days=period.days)


def newborn_period_end(policy: Policy, birth: date) -> date | None:
    """Last day a newborn's payment is accepted under the newborn rules, if any."""
    nb = policy.newborn
    if nb.free_in_birth_year and birth.year == policy.year:
        return policy.year_end
    ends = []
    if nb.from_birth_if_paid_within:  # may run past 31 Dec: coverage reaches back to birth
        ends.append(add_period(birth, nb.from_birth_if_paid_within))
    if nb.from_payment_if_paid_within:  # coverage from the payment day: within the year only
        ends.append(min(add_period(birth, nb.from_payment_if_paid_within), policy.year_end))
    return max(ends) if ends else None


def is_newborn(policy: Policy, category: str, birth: date) -> bool:
    """A newborn of the benefit year: born in it, or, where the policy admits births of the
    year before (seeds 000, 001, 004; ADR 62), born the year before with a newborn period from
    birth that ends on or after 1 January of the benefit year."""
    if category != "newborn":
        return False
    if birth.year == policy.year:
        return True
    if not policy.newborn.previous_year_births or birth.year != policy.year - 1:
        return False
    end = newborn_period_end(policy, birth)
    return end is not None and end >= policy.year_start


def check_newborn(policy: Policy, category: str, birth: date) -> None:
    """Refuse the category newborn for a baby the policy's newborn rules do not reach."""
    if category == "newborn" and not is_newborn(policy, category, birth):
        previous = policy.newborn.previous_year_births
        raise InvalidInput(
            f"category newborn needs a birth in {policy.year}"
            + (f", or in {policy.year - 1} with a newborn period reaching into {policy.year}"
               if previous else "")
            + f"; born {birth} ({policy.ref})")


def accept_payment_day(policy: Policy, day: date, category: str, birth: date,
                       prior_insured: bool) -> Acceptance:
    """Decide whether a contribution received on `day` is inside a period the policy opens."""
    for w in policy.windows:
        if w.admits(day, category):
            return Acceptance(w.name, w, f"received {day} in the {w.name} window "
                              f"{w.start}..{w.end}" + (
                                  f" (days {w.days_of_month[0]}-{w.days_of_month[1]})"
                                  if w.days_of_month else ""))
    if is_newborn(policy, category, birth):
        end = newborn_period_end(policy, birth)
        if end is not None and birth <= day <= end:
            return Acceptance("newborn", None, f"received {day}, born {birth}: newborn period "
                              f"until {end}")
    late = policy.late
    if (
        late.until is not None and category in late.categories
        and _after_windows(policy, day, category) and day <= late.until
    ):
        if late.requires_prior_insurance and not prior_insured:
            raise Rejected(
                "outside_collection_window",
                f"{day} is after the collection window; late payment until {late.until} "
                f"is open only to continuing enrollees ({policy.ref})",
            )
        return Acceptance("late", None, f"received {day}, after the windows, in the late "
                          f"period until {late.until}")
    raise Rejected("outside_collection_window", _closed_sentence(policy, day, category))


def _after_windows(policy: Policy, day: date, category: str) -> bool:
    ends = [w.end for w in policy.windows]
    return bool(ends) and day > max(ends)


def _closed_sentence(policy: Policy, day: date, category: str) -> str:
    spans = [f"{w.start}..{w.end}" + (f" on days {w.days_of_month[0]}-{w.days_of_month[1]}"
                                      if w.days_of_month else "")
             for w in policy.windows if category in w.categories]
    shown = ", ".join(spans) or "no window for this category"
    return (f"{day} is outside the collection windows for {category} enrollees of "
            f"{policy.year} ({shown}; {policy.ref})")


def last_acceptance_day(policy: Policy, category: str, birth: date) -> date | None:
    """The last day on which any contribution for this person-year could be accepted."""
    days = [w.end for w in policy.windows if category in w.categories]
    if policy.late.until is not None and category in policy.late.categories:
        days.append(policy.late.until)
    if is_newborn(policy, category, birth):
        end = newborn_period_end(policy, birth)
        if end is not None:
            days.append(end)
    return max(days) if days else None


def check_enrollment_day(policy: Policy, day: date, category: str, birth: date,
                         prior_insured: bool) -> None:
    """Enrollment may be declared before collection starts but not after it can no longer pay."""
    if policy.late.requires_prior_insurance and not prior_insured:
        policy = evolve(policy, late=evolve(policy.late, until=None))
    last = last_acceptance_day(policy, category, birth)
    if last is None or day > last:
        raise Rejected(
            "outside_collection_window",
            f"{day} is after the last day ({last}) on which a {category} enrollment for "
            f"{policy.year} can be completed ({policy.ref})",
        )


def check_channel(policy: Policy, channel: str, payer_is_insured: bool, insured_birth: date,
                  day: date, subsidised: bool) -> None:
    """Online-channel restrictions (seed 001): subsidised people and 18–50 proxies."""
    rules = policy.payment
    if channel not in rules.online_channels:
        return
    if subsidised and not rules.subsidised_may_pay_online:
        raise Rejected(
            "channel_not_allowed",
            f"subsidised enrollees cannot pay through the online channel {channel} "
            f"({policy.ref})",
        )
    if rules.self_pay_online_ages is not None and not payer_is_insured:
        low, high = rules.self_pay_online_ages
        if low <= age_on(insured_birth, day) <= high:
            raise Rejected(
                "channel_not_allowed",
                f"insured persons aged {low}-{high} must pay online for themselves, "
                f"not through a proxy ({policy.ref})",
            )
