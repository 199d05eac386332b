"""Whether a refund may be had, and how much: never after the deadline, never more than paid."""

from __future__ import annotations

from datetime import date

from attrs import frozen

from domain.errors import Rejected
from domain.money import Money
from domain.policy import ONLINE_CHANNELS, Policy
from domain.rules.standing import credit, net_paid

REFUND_REASONS = ("subsidy_eligibility", "duplicate_payment", "duplicate_enrollment", "other")


@frozen
class RefundState:
    """The person-year's money as it stands before the refund."""

    paid: Money
    refunded: Money
    due: Money
    subsidy_granted_on: date | None


@frozen
class RefundDecision:
    amount: Money
    terminates: bool
    explanation: str


def is_online_request(policy: Policy, channel: str | None) -> bool:
    """Whether a refund request's channel is online: an online channel code, or one of the
    policy's online payment channels (compared without regard to case)."""
    if channel is None:
        return False
    return channel.strip().lower() in {*ONLINE_CHANNELS, *policy.payment.online_channels}


def check_refund_channel(policy: Policy, channel: str | None) -> None:
    """001: 城乡居民基本医疗保险参保缴费不支持线上退费 — no refund is requested online where the
    policy says so (ADR 67)."""
    if not policy.refund.online_requests and is_online_request(policy, channel):
        raise Rejected("channel_not_allowed", f"a refund cannot be requested online "
                       f"({channel}); apply at the insurance agency ({policy.ref})")


def refundable_credit(state: RefundState) -> Money:
    """Refundable excess: what was paid beyond the due, less what was already refunded."""
    return credit(state.paid, state.refunded, state.due)


def decide_refund(policy: Policy, reason: str, day: date, requested: Money | None,
                  state: RefundState) -> RefundDecision:
    """Refund rules of seeds 001/002: subsidy eligibility and duplicates, before the deadline."""
    deadline = policy.refund.deadline
    if reason == "subsidy_eligibility":
        granted = state.subsidy_granted_on
        if granted is None:
            raise Rejected("nothing_to_refund", f"no subsidy was granted for {policy.year}, so "
                           "nothing is refundable on grounds of subsidy eligibility")
        if granted > deadline:
            raise Rejected("refund_window_closed", f"the subsidy was granted {granted}, after "
                           f"{deadline}: the individual payment is not refunded ({policy.ref})")
    request_checked = reason != "subsidy_eligibility" or policy.refund.requests_within_deadline
    if request_checked and day > deadline:
        raise Rejected("refund_window_closed", f"refund requested {day}, after the deadline "
                       f"{deadline} ({policy.ref})")
    terminates = reason == "duplicate_enrollment"
    refundable = (net_paid(state.paid, state.refunded) if terminates
                  else refundable_credit(state))
    if terminates:
        if requested is not None and requested != refundable:
            raise Rejected("refund_exceeds_paid" if requested > refundable else "invalid_input",
                           f"ending a duplicate enrollment refunds everything paid, "
                           f"{refundable}; omit amount or give exactly that")
        return RefundDecision(refundable, True, f"duplicate_enrollment: enrollment terminated, "
                              f"all net payments refunded ({refundable}) on {day}, deadline "
                              f"{deadline} ({policy.ref})")
    if not refundable.is_positive():
        raise Rejected("nothing_to_refund", f"nothing is refundable: paid {state.paid}, "
                       f"refunded {state.refunded}, due {state.due}")
    amount = refundable if requested is None else requested
    if not amount.is_positive():
        raise Rejected("invalid_input", "a refund amount must be positive")
    if amount > refundable:
        raise Rejected("refund_exceeds_paid", f"{amount} asked, but only {refundable} is "
                       f"refundable (paid {state.paid}, refunded {state.refunded}, "
                       f"due {state.due})")
    return RefundDecision(amount, False, f"{reason}: credit refundable {refundable}; "
                          f"refunded {amount} on {day}, deadline {deadline} ({policy.ref})")
