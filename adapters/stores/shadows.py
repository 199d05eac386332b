"""Shadow rules (ADR 86): candidate rule sets decided beside the live ledger, and what they
decided differently, kept as a read model in the views' database.

`shadow_rule` holds each shadow's definition (its patch, scope and behaviour, the position of
the log when it was added) and how far its rows are folded; `shadow_claim` holds the claims it
decided differently since it was added. The rows are derived from the log alone: dropping them
(or the position) makes the next report rebuild them. Nothing here touches the ledger.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from attrs import frozen
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from domain.errors import LedgerError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

metadata = MetaData()

shadow_rule = Table(
    "shadow_rule", metadata,
    Column("name", String(40), primary_key=True),
    Column("patch", Text, nullable=False),
    Column("source", String(400), nullable=False),
    Column("region", String(6), nullable=True),
    Column("year", Integer, nullable=True),
    Column("behaviour", String(20), nullable=False),
    Column("added_position", BigInteger, nullable=False),
    Column("added_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("claims", BigInteger, nullable=False, default=0),
)

shadow_claim = Table(
    "shadow_claim", metadata,
    Column("shadow", String(40), primary_key=True),
    Column("claim_id", String(80), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("household_id", String(36), nullable=False),
    Column("head", String(64), nullable=False),
    Column("region", String(6), nullable=False),
    Column("year", Integer, nullable=False),
    Column("recorded", Text, nullable=False),  # the ClaimOutcome as JSON
    Column("shadow_outcome", Text, nullable=False),
)


class ShadowError(LedgerError):
    """A shadow that cannot be added, found or removed: `reason` and a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@frozen
class Shadow:
    name: str
    patch: dict[str, Any]
    source: str
    region: str | None
    year: int | None
    behaviour: str
    added_position: int
    added_at: str
    position: int
    claims: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "region": self.region,
                "year": self.year, "behaviour": self.behaviour,
                "added_position": self.added_position, "added_at": self.added_at,
                "position": self.position, "claims": self.claims, "patch": self.patch}


@frozen
class Divergence:
    """A claim the shadow decided differently: where it stands and both outcomes."""

    claim_id: str
    position: int
    household_id: str
    head: str
    region: str
    year: int
    recorded: tuple
    shadow: tuple


def _shadow(row: Any) -> Shadow:
    return Shadow(row.name, json.loads(row.patch), row.source, row.region, row.year,
                  row.behaviour, row.added_position, row.added_at, row.position, row.claims)


class ShadowStore:
    """The shadow tables of a database (created if missing)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, tables=[shadow_rule, shadow_claim])

    def add(self, name: str, patch: dict[str, Any], source: str, region: str | None,
            year: int | None, behaviour: str, position: int, at: str) -> Shadow:
        if not NAME.match(name):
            raise ShadowError("invalid_input", f"a shadow's name is 1 to 40 lower-case "
                              f"letters, digits, - or _, starting with a letter or digit; "
                              f"got {name!r}")
        with self.engine.begin() as conn:
            if conn.execute(select(shadow_rule.c.name).where(
                    shadow_rule.c.name == name)).first() is not None:
                raise ShadowError("shadow_exists", f"a shadow named {name} exists; remove it "
                                  "first or choose another name")
            conn.execute(insert(shadow_rule).values(
                name=name, patch=json.dumps(patch, ensure_ascii=False, sort_keys=True),
                source=source[:400], region=region, year=year, behaviour=behaviour,
                added_position=position, added_at=at, position=position, claims=0))
        return self.get(name)

    def get(self, name: str) -> Shadow:
        with self.engine.connect() as conn:
            row = conn.execute(select(shadow_rule).where(shadow_rule.c.name == name)).first()
        if row is None:
            raise ShadowError("unknown_shadow", f"no shadow is named {name!r}")
        return _shadow(row)

    def list(self) -> list[Shadow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(shadow_rule).order_by(shadow_rule.c.name)).all()
        return [_shadow(r) for r in rows]

    def remove(self, name: str) -> Shadow:
        shadow = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(delete(shadow_claim).where(shadow_claim.c.shadow == name))
            conn.execute(delete(shadow_rule).where(shadow_rule.c.name == name))
        return shadow

    def divergences(self, name: str) -> list[Divergence]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(shadow_claim).where(shadow_claim.c.shadow == name)
                                .order_by(shadow_claim.c.position)).all()
        return [Divergence(r.claim_id, r.position, r.household_id, r.head, r.region, r.year,
                           tuple(json.loads(r.recorded)), tuple(json.loads(r.shadow_outcome)))
                for r in rows]

    def replace(self, name: str, rows: Iterable[Divergence], position: int,
                claims: int) -> None:
        """The shadow's rows as folded up to `position` (`claims` decided since it was
        added), in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(delete(shadow_claim).where(shadow_claim.c.shadow == name))
            values = [{"shadow": name, "claim_id": d.claim_id, "position": d.position,
                       "household_id": d.household_id, "head": d.head, "region": d.region,
                       "year": d.year, "recorded": json.dumps(list(d.recorded)),
                       "shadow_outcome": json.dumps(list(d.shadow))} for d in rows]
            if values:
                conn.execute(insert(shadow_claim), values)
            conn.execute(update(shadow_rule).where(shadow_rule.c.name == name)
                         .values(position=position, claims=claims))

    def forget_rows(self, name: str | None = None) -> None:
        """A shadow's rows (every shadow's when no `name`) dropped: rebuilt from the log at
        the next report."""
        rows, rules = delete(shadow_claim), update(shadow_rule)
        if name is not None:
            self.get(name)
            rows = rows.where(shadow_claim.c.shadow == name)
            rules = rules.where(shadow_rule.c.name == name)
        with self.engine.begin() as conn:
            conn.execute(rows)
            conn.execute(rules.values(position=shadow_rule.c.added_position, claims=0))
