"""A county year: every household in turn, then the commands in business-time order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from adapters.generator.clock import _at
from adapters.generator.households import _Households


class _County(_Households):
    """The phases of a county year assembled: households, payments, claims."""

    def run(self) -> Iterator[dict[str, Any]]:
        for i in range(self.households):
            self.hh, self.seq = i, 0
            self.household()
        self.rows.sort()  # (minute, household, sequence) is unique: dicts never compared
        for m, _, _, fields in self.rows:
            fields["at"] = _at(m)
            yield fields
        self.rows = []
