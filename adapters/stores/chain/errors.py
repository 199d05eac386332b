"""The event chain's errors: a chain that cannot be written or read, a refused audit key."""

from __future__ import annotations

from domain.errors import LedgerError, Rejected


class ChainError(LedgerError):
    """The event chain cannot be written or read as it is."""


class AuditKeyMismatch(Rejected):
    """The audit key is not the one this database's event chain was written with."""

    def __init__(self, message: str) -> None:
        super().__init__("audit_key_mismatch", message)


def altered() -> ChainError:
    return ChainError(
        "a position about to be recorded already has a chain link: this database has been "
        "altered; nothing was recorded (run the chain verification to locate the damage)")
