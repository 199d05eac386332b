"""API tokens for the HTTP API: random secrets shown once, kept only as SHA-256 digests.

Each token has a role (what it may do) and a region prefix (where): a GB/T 2260 code prefix
such as `3412` (all of Fuyang) or `341225` (Funan); the empty prefix covers every region. The
table `api_token` lives in the ledger's own database (SQLAlchemy Core, created if missing), so
one URL names the events, the views and the tokens. ADR 20 records the roles and region rules.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime, timezone

from attrs import frozen
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)

from domain.errors import LedgerError

#: What each role may do: the contract's ops, and the HTTP API's queries
#: (`household`, `person`, `search`, `report`, `whatif`, `audit`). `search` lists persons
#: and households with their numbers and names: only for the roles that see numbers in full.
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "clinic": frozenset({"claim", "quote", "reverse_claim", "household", "person"}),
    "agency": frozenset({"register", "enroll", "pay", "grant_subsidy", "refund",
                         "report_employee_insurance", "recognise_identity", "household",
                         "person", "search"}),
    "auditor": frozenset({"household", "person", "search", "report", "audit"}),
    "analyst": frozenset({"report", "whatif"}),
    "admin": frozenset({"register", "enroll", "pay", "grant_subsidy", "refund",
                        "report_employee_insurance", "recognise_identity", "claim", "quote",
                        "reverse_claim", "household", "person", "search", "report", "whatif",
                        "audit"}),
}
ROLES: tuple[str, ...] = tuple(ROLE_ACTIONS)
#: Roles that always belong to a place: a token of theirs needs a region prefix.
REGIONAL_ROLES = ("clinic", "agency")
#: Roles shown every ID number in full; the others see them masked (ADR 20).
FULL_ID_ROLES = ("agency", "auditor", "admin")

SECRET_PREFIX = "bp_"
MAX_SECRET = 200
MAX_LABEL = 200
_REGION_PREFIX = re.compile(r"^[0-9]{0,6}$")

metadata = MetaData()

api_token = Table(
    "api_token", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("region", String(6), nullable=False),
    Column("label", String(MAX_LABEL), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("revoked_at", String(40), nullable=True),
)


class TokenError(LedgerError):
    """A token cannot be created or revoked as asked."""


@frozen
class Token:
    """A stored token, without its secret."""

    id: int
    role: str
    region: str
    label: str | None
    created_at: str
    revoked: bool = False
    revoked_at: str | None = None

    def may(self, action: str) -> bool:
        """Whether the role allows an op or query."""
        return action in ROLE_ACTIONS.get(self.role, ())

    def covers(self, region: str) -> bool:
        """Whether a 6-digit region code (or a narrower prefix) lies within the token's."""
        return region.startswith(self.region)

    @property
    def sees_full_ids(self) -> bool:
        return self.role in FULL_ID_ROLES

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "role": self.role, "region": self.region, "label": self.label,
                "created_at": self.created_at, "revoked": self.revoked,
                "revoked_at": self.revoked_at}


def digest(secret: str) -> str:
    """The stored form of a secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _token(row: object) -> Token:
    return Token(id=row.id, role=row.role, region=row.region, label=row.label,
                 created_at=row.created_at, revoked=bool(row.revoked),
                 revoked_at=row.revoked_at)


#: How long a process trusts a token it has checked before asking the database again.
CACHE_SECONDS = 5.0


class TokenStore:
    """The `api_token` table of a database (created if missing)."""

    def __init__(self, engine: Engine, cache_seconds: float = CACHE_SECONDS) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        #: digest -> (token, until when it may be trusted without asking the database)
        self._recent: dict[str, tuple[Token, float]] = {}
        metadata.create_all(engine, tables=[api_token])

    def create(self, role: str, region: str = "", label: str | None = None) -> tuple[str, Token]:
        """A new token: returns its secret (never stored, shown once) and its record."""
        if role not in ROLE_ACTIONS:
            raise TokenError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        region = (region or "").strip()
        if not _REGION_PREFIX.match(region):
            raise TokenError(f"region must be a region code prefix of 0 to 6 digits (e.g. 3412); "
                             f"got {region!r}")
        if role in REGIONAL_ROLES and not region:
            raise TokenError(f"a {role} token needs --region: the code prefix it works in")
        if label is not None:
            label = label.strip() or None
            if label is not None and (len(label) > MAX_LABEL or not label.isprintable()):
                raise TokenError(f"label must be printable text of at most {MAX_LABEL} characters")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        created = _now()
        with self.engine.begin() as conn:
            result = conn.execute(insert(api_token).values(
                token_hash=digest(secret), role=role, region=region, label=label,
                created_at=created, revoked=False))
            token_id = result.inserted_primary_key[0]
        return secret, Token(id=token_id, role=role, region=region, label=label,
                             created_at=created)

    def list(self) -> list[Token]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_token).order_by(api_token.c.id)).all()
        return [_token(r) for r in rows]

    def revoke(self, token_id: int) -> Token:
        """Revoke a token at once in this process (other processes stop trusting it within
        `cache_seconds`); revoking it again changes nothing."""
        self._recent.clear()
        with self.engine.begin() as conn:
            row = conn.execute(select(api_token).where(api_token.c.id == token_id)).first()
            if row is None:
                raise TokenError(f"no token has id {token_id}")
            if not row.revoked:
                conn.execute(update(api_token).where(api_token.c.id == token_id).values(
                    revoked=True, revoked_at=_now()))
            row = conn.execute(select(api_token).where(api_token.c.id == token_id)).first()
        return _token(row)

    def authenticate(self, secret: str) -> Token | None:
        """The live token a presented secret belongs to; None when unknown or revoked."""
        if not secret or len(secret) > MAX_SECRET or not secret.isascii():
            return None
        wanted = digest(secret)
        recent = self._recent.get(wanted)
        now = time.monotonic()
        if recent is not None and recent[1] > now:
            return recent[0]
        token = self._lookup(wanted)
        if token is not None:
            if len(self._recent) > 10_000:
                self._recent.clear()
            self._recent[wanted] = (token, now + self.cache_seconds)
        return token

    def _lookup(self, wanted: str) -> Token | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(api_token).where(api_token.c.token_hash == wanted)).first()
        if row is None or row.revoked or not hmac.compare_digest(row.token_hash, wanted):
            return None
        return _token(row)
