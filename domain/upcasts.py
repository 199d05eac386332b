"""Upcasts of stored events: fields the schema gained after an event was first recorded.

An upcast gives such a field None, which means "not recorded then"; `LATER_FIELDS` names them
(the audit does not count a None there as a difference from a re-decision).
"""

from __future__ import annotations

from typing import Any


def no_policy_hash(state: dict[str, Any]) -> None:
    """Upcast: events recorded before decisions named their policy's content hash."""
    state["policy_hash"] = None


def no_fiscal(state: dict[str, Any]) -> None:
    """Upcast: person-year decisions recorded before they named the fiscal subsidy due per
    covered person under their policy."""
    state["fiscal"] = None


def no_refund_terms(state: dict[str, Any]) -> None:
    """Upcast: refunds recorded before they named the fiscal part and a refund reference."""
    state.update(fiscal=None, refund_ref=None)


def no_pool_terms(state: dict[str, Any]) -> None:
    """Upcast: households formed before they named the per-person cap and the policy."""
    state.update(per_person_cap=None, policy_id=None, policy_version=None)


def no_third_party_share(state: dict[str, Any]) -> None:
    """Upcast: claims recorded before a third party's certified share could be given (none
    was: their whole expense was judged under their cause)."""
    state["third_party_share"] = None


def no_places(state: dict[str, Any]) -> None:
    """Upcast: registrations recorded before they could name hukou, residence-permit, spouse
    and school regions (none was named)."""
    state.update(hukou_region=None, residence_permit_region=None, spouse_region=None,
                 school_region=None, school_level=None)


#: Fields added to stored events after their first schema: an upcast gives them None, which
#: means "not recorded then" (audit does not compare them).
LATER_FIELDS = frozenset({"policy_hash", "fiscal", "per_person_cap", "policy_id",
                          "policy_version", "refund_ref"})
