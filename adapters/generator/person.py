"""One generated resident: who they are and what the generator has decided for their year."""

from __future__ import annotations

from datetime import date


class _Person:
    __slots__ = ("number", "name", "birth", "male", "role", "employee", "category", "identity",
                 "due", "subsidy", "region", "covered_from", "ready", "claims", "switcher",
                 "uncovered_claim")

    def __init__(self, number: str, name: str, birth: date, male: bool, role: str) -> None:
        self.number = number
        self.name = name
        self.birth = birth
        self.male = male
        self.role = role
        self.employee = False
        self.category = "general"
        self.identity: str | None = None
        self.due = 0
        self.subsidy = 0
        self.region = ""
        self.covered_from: date | None = None
        self.ready = 0  # the minute from which the ledger knows the coverage
        self.claims = True
        self.switcher = False
        self.uncovered_claim = False
