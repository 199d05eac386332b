"""The process environment, read in one place: every `BENEFITPOOL_*` setting of the ledger.

Nothing else in `domain`, `projections` or `adapters` reads the environment; the composition
root (`adapters.composition`) turns these settings into stores, keys and policies. A server's
worker processes get theirs through `Settings.environ()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from attrs import frozen

DB = "BENEFITPOOL_DB"
POLICIES = "BENEFITPOOL_POLICIES"
AUDIT_KEY = "BENEFITPOOL_AUDIT_KEY"
CIPHER_KEY = "BENEFITPOOL_CIPHER_KEY"
#: The columnar claims store's folder (ADR 50); `off` turns it off.
COLUMNAR = "BENEFITPOOL_COLUMNAR"
DEPLOYMENT = "BENEFITPOOL_DEPLOYMENT"
#: Dask's own setting: the address of an existing Dask distributed scheduler.
DASK_SCHEDULER = "DASK_SCHEDULER_ADDRESS"
#: Set by `benefitpool serve` for its worker processes: the ledger process's socket.
LEDGER_SOCKET = "BENEFITPOOL_LEDGER_SOCKET"


@frozen
class Settings:
    """The ledger's settings as the environment gives them (None or "" when unset)."""

    db: str | None = None
    policies: Path | None = None
    audit_key: str = ""
    cipher_key: str | None = None
    ledger_socket: str | None = None
    columnar: str | None = None
    deployment: Path | None = None
    dask_scheduler: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        policies = env.get(POLICIES) or None
        return cls(db=env.get(DB) or None,
                   policies=Path(policies) if policies else None,
                   audit_key=env.get(AUDIT_KEY, ""),
                   cipher_key=env.get(CIPHER_KEY, "").strip() or None,
                   ledger_socket=env.get(LEDGER_SOCKET) or None,
                   columnar=env.get(COLUMNAR) or None,
                   deployment=Path(env[DEPLOYMENT]) if env.get(DEPLOYMENT) else None,
                   dask_scheduler=env.get(DASK_SCHEDULER) or None)

    def environ(self) -> dict[str, str]:
        """These settings as environment variables, for a child process to read back."""
        out = {AUDIT_KEY: self.audit_key} if self.audit_key else {}
        for name, value in ((DB, self.db), (POLICIES, self.policies),
                            (CIPHER_KEY, self.cipher_key), (LEDGER_SOCKET, self.ledger_socket),
                            (COLUMNAR, self.columnar), (DEPLOYMENT, self.deployment)):
            if value is not None:
                out[name] = str(value)
        return out


def current() -> Settings:
    """The settings of this process's environment, read now."""
    return Settings.from_environ()


def export(settings: Settings) -> None:
    """Put settings into this process's environment, for the worker processes it starts (a
    server's uvicorn workers build their application from the environment); a setting that is
    unset is removed."""
    for name in (DB, POLICIES, AUDIT_KEY, CIPHER_KEY, LEDGER_SOCKET, COLUMNAR, DEPLOYMENT):
        os.environ.pop(name, None)
    os.environ.update(settings.environ())
