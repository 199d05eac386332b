"""The entry points: a regime's synthetic county as command dicts, or written as JSON Lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.generator.county import _County
from adapters.generator.regimes import counties_for, find_regime
from domain.policy_book import PolicyBook


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
