"""ID numbers in answers: masked for the roles that need not see them (ADR 21)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import InvalidInput
from domain.identity import mask_number, mask_text, parse_person_ref

#: Result and query fields that hold a person's number (or a list of them).
ID_FIELDS = frozenset({"person", "payer", "household_head", "head", "members",
                       "covered_members"})


def mask_ids(value: Any, keep: frozenset[str] = frozenset(), key: str | None = None) -> Any:
    """A copy of a result with every ID number masked except those in `keep`: the ID fields
    whatever the number looks like (document numbers too), and resident-ID-shaped runs in any
    other text (messages)."""
    if isinstance(value, dict):
        return {k: mask_ids(v, keep, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_ids(v, keep, key) for v in value]
    if isinstance(value, str):
        if key in ID_FIELDS:
            return value if value.upper() in keep else mask_number(value)
        return mask_text(value, keep)
    return value


def keep(*refs: Any) -> frozenset[str]:
    """The numbers a caller sent (so already knows): shown to a clinic unmasked."""
    out = set()
    for ref in refs:
        if isinstance(ref, str):
            try:
                out.add(parse_person_ref(ref).number.upper())
            except InvalidInput:
                out.add(ref.upper())
    return frozenset(out)


def ids_of(data: Mapping[str, Any]) -> frozenset[str]:
    return keep(*(data.get(k) for k in ("person", "household_head", "payer")))
