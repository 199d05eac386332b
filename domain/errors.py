"""Domain errors: every rejection carries a stable reason code and a sentence."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of all benefitpool errors."""


class Rejected(LedgerError):
    """A command was refused by a rule; nothing is recorded."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"Rejected({self.reason!r}, {self.message!r})"


class InvalidInput(Rejected):
    """A value does not have the form the contract requires."""

    def __init__(self, message: str, reason: str = "invalid_input") -> None:
        super().__init__(reason, message)


class PolicyError(LedgerError):
    """A policy file or patch is malformed; names the source and the field."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        super().__init__(f"{source}: field '{field}': {problem}")
        self.source = source
        self.field = field
        self.problem = problem


def cause_of(error: BaseException, limit: int = 160) -> str:
    """An error in a few words for a message: its type and the first line of what it says."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:limit] if lines else 'no message'}"
