"""The policy book: every loaded policy version, and the one in force for a region and year."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.errors import PolicyError
from domain.policy import Policy


class PolicyBook:
    """Every loaded policy version; finds the one in force for a region and year."""

    def __init__(self, policies: list[tuple[Policy, Mapping[str, Any]]] = ()) -> None:
        self._by_ref: dict[tuple[str, str], Policy] = {}
        self._raw: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._cache: dict[tuple[str, int], Policy | None] = {}
        for policy, raw in policies:
            self.add(policy, raw)

    def add(self, policy: Policy, raw: Mapping[str, Any]) -> None:
        key = (policy.id, policy.version)
        if key in self._by_ref:
            raise PolicyError(policy.id, "version", f"{policy.ref} is defined twice")
        self._by_ref[key] = policy
        self._raw[key] = raw
        self._cache.clear()

    def __iter__(self):
        return iter(sorted(self._by_ref.values(), key=lambda p: (p.region, p.year, p.id)))

    def __len__(self) -> int:
        return len(self._by_ref)

    def get(self, policy_id: str, version: str) -> Policy | None:
        return self._by_ref.get((policy_id, version))

    def raw(self, policy: Policy) -> Mapping[str, Any]:
        return self._raw[(policy.id, policy.version)]

    def in_force(self) -> list[Policy]:
        """The newest version of each policy id."""
        newest: dict[str, Policy] = {}
        for p in self._by_ref.values():
            cur = newest.get(p.id)
            if cur is None or version_key(p.version) > version_key(cur.version):
                newest[p.id] = p
        return sorted(newest.values(), key=lambda p: (p.region, p.year, p.id))

    def find(self, region: str, year: int) -> Policy | None:
        """The in-force policy with the longest region prefix matching a county, for a year."""
        key = (region, year)
        if key not in self._cache:
            best = None
            for p in self.in_force():
                if p.year == year and region.startswith(p.region):
                    if best is None or len(p.region) > len(best.region):
                        best = p
            self._cache[key] = best
        return self._cache[key]

    def knows_region(self, region: str) -> bool:
        return any(region.startswith(p.region) for p in self._by_ref.values())


def version_key(version: object) -> tuple:
    """Order versions part by part ("1" < "1.1" < "1+whatif" < "2"); numbers before words."""
    parts = re.split(r"[.\-+]", str(version))
    return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in parts)
