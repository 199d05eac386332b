"""What a verification reports: the seal, the located problems and their collection."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from attrs import field, frozen


@frozen
class Seal:
    """The log's last position and its log link: kept outside the database, it proves later
    that nothing up to that position was removed or rewritten."""

    position: int
    log_link: str  # hex


@frozen
class ChainProblem:
    """One finding of `verify_chain`, located as precisely as the evidence allows."""

    kind: str  # edited deleted inserted reordered missing_link wrong_key fingerprint
    originator_id: str | None
    version: int | None
    position: int | None
    message: str


@frozen
class ChainReport:
    """What `verify_chain` checked and found."""

    events_checked: int
    streams_checked: int
    links_checked: int
    keyed: bool
    seal: Seal | None
    problems: tuple[ChainProblem, ...]
    problem_count: int  # all problems; `problems` holds at most `max_problems` of them
    upto: int | None = None
    adopted_upto: int = 0
    notes: tuple[str, ...] = field(factory=tuple)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "keyed": self.keyed, "events_checked": self.events_checked,
            "streams_checked": self.streams_checked, "links_checked": self.links_checked,
            "upto": self.upto, "adopted_upto": self.adopted_upto,
            "seal": None if self.seal is None else {"position": self.seal.position,
                                                    "log_link": self.seal.log_link},
            "problem_count": self.problem_count,
            "problems": [_shown(p) for p in self.problems],
            "notes": list(self.notes),
        }


def dashed(oid: str | None) -> str | None:
    """A stream id as every finding shows it: the UUID with dashes (ADR 76); the chain reads
    ids as 32 hex digits. A value that is no UUID (a damaged row) is shown as it is."""
    if oid is None:
        return None
    try:
        return str(UUID(oid))
    except ValueError:
        return oid


def _shown(p: ChainProblem) -> dict[str, Any]:
    """A chain problem as the audit's findings show it: its stream id with dashes, in the
    message too, also under `stream` as the decisions' and views' findings name it."""
    oid = dashed(p.originator_id)
    message = p.message
    if p.originator_id and oid and oid != p.originator_id:
        message = message.replace(p.originator_id, oid)
    return {"kind": p.kind, "originator_id": oid, "stream": oid, "version": p.version,
            "position": p.position, "message": message}


class Problems:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[ChainProblem] = []
        self.count = 0
        self.located: set[tuple[str, int]] = set()

    def add(self, kind: str, oid: str | None, version: int | None, position: int | None,
            message: str) -> None:
        self.count += 1
        if oid is not None and version is not None and len(self.located) < 1_000_000:
            self.located.add((oid, version))
        if len(self.items) < self.limit:
            self.items.append(ChainProblem(kind, oid, version, position, message))
