"""Routing commands to the ledger of their pooling region, through the deployment's directory
(ADR 56, ADR 57).

`register` and `enroll` go to the region they name; every later command of a person goes to
the region the person is enrolled in for the command's year (a claim: the year of its visit),
else to the region the person last registered in; a claim whose id was seen before, and
`reverse_claim`, go where that id went first (the reversal of an id never seen goes to the
first region, and its claim then follows it there, ADR 59). What no rule places (a line that
does not parse, a person nobody registered) goes to the first region, whose ledger answers it
as one store would. An enrollment in a second region for the same person and year is refused
here, before any ledger sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from attrs import define, field, frozen

from adapters.application.lines import parse_line
from adapters.stores.deployment_files import Deployment
from adapters.stores.directory import (
    CONFIRMED,
    LEASE_SECONDS,
    PENDING,
    Directory,
    Holder,
    person_ref,
)
from domain.commands import Claim, Enroll, Register, ReverseClaim
from domain.identity import mask_text

#: Does this region's ledger hold an enrollment of (person key, year)? (A stale reservation
#: is taken over only when it does not.)
EnrolledIn = Callable[[str, str, int], bool]


@frozen
class Route:
    """Where one line goes: a region's prefix, or the router's own answer (`result`)."""

    line: int
    region: str | None
    result: dict[str, Any] | None = None
    #: The (person_ref, year) this line's enrollment reserved for its region.
    reserved: tuple[str, int] | None = None


def refusal(line: int, op: str, reason: str, message: str) -> dict[str, Any]:
    """The router's answer to a line it refuses: the contract's rejection result."""
    return {"line": line, "op": op, "status": "rejected", "reason": reason,
            "message": mask_text(message)}


@define
class Router:
    """Routes command lines, chunk by chunk, in file order; remembers what earlier lines
    established (registrations, enrollments, claims) until the directory records them."""

    deployment: Deployment
    directory: Directory
    key: bytes
    now: int
    enrolled_in: EnrolledIn | None = None
    registrations: dict[str, list[str]] = field(factory=dict)
    enrollments: dict[tuple[str, int], str] = field(factory=dict)
    claims: dict[str, str] = field(factory=dict)
    new_registrations: list[tuple[str, str]] = field(factory=list)
    new_claims: list[tuple[str, str]] = field(factory=list)
    holders: dict[tuple[str, int], Holder] = field(factory=dict)
    won: set[tuple[str, int]] = field(factory=set)
    #: person key -> its directory pseudonym (an HMAC, computed once per person)
    refs: dict[str, str] = field(factory=dict)

    @property
    def fallback(self) -> str:
        return self.deployment.regions[0].prefix

    def route(self, lines: Sequence[tuple[int, str]]) -> list[Route]:
        """The route of each (line number, text), in order."""
        parsed = [(n, parse_line(text)) for n, text in lines]
        self._look_up(parsed)
        routes = [self._route(n, p) for n, p in parsed]
        self.directory.note_registrations(self.new_registrations)
        self.directory.note_claims(self.new_claims)
        self.new_registrations, self.new_claims = [], []
        return routes

    def ref(self, person: Any) -> str:
        ref = self.refs.get(person.key)
        if ref is None:
            ref = self.refs[person.key] = person_ref(self.key, person.key)
        return ref

    # --- one directory read (and one reservation) per chunk --------------------------------

    def _look_up(self, parsed: list[tuple[int, Any]]) -> None:
        refs: set[str] = set()
        years: set[tuple[str, int]] = set()
        claim_ids: set[str] = set()
        wanted: dict[tuple[str, int], str] = {}
        for _, p in parsed:
            if not isinstance(p, tuple):
                continue
            cmd = p[1]
            if isinstance(cmd, ReverseClaim | Claim) and cmd.claim_id not in self.claims:
                claim_ids.add(cmd.claim_id)
            if isinstance(cmd, ReverseClaim):
                continue
            person = getattr(cmd, "person", None)
            if person is None:
                continue
            ref = self.ref(person)
            refs.add(ref)
            year = cmd.visit_date.year if isinstance(cmd, Claim) else getattr(cmd, "year", None)
            if year is not None:
                years.add((ref, year))
            if isinstance(cmd, Enroll):
                home = self.deployment.region_of(cmd.region.code)
                if home is not None and (ref, year) not in self.enrollments:
                    wanted.setdefault((ref, year), home.prefix)
        known = self.directory.registered(r for r in refs if r not in self.registrations)
        for ref, regions in known.items():
            self.registrations[ref] = regions
        self.holders = self.directory.holders(k for k in years if k not in self.enrollments)
        new = [(ref, y, r) for (ref, y), r in wanted.items() if (ref, y) not in self.holders]
        self.holders.update(self.directory.reserve(new, self.now))
        self.won = {(ref, y) for ref, y, r in new if self.holders[(ref, y)].region == r}
        self.claims.update(self.directory.claim_regions(claim_ids))

    # --- one line --------------------------------------------------------------------------

    def _route(self, n: int, p: Any) -> Route:
        if not isinstance(p, tuple):
            return Route(n, self.fallback)  # invalid input: the ledger answers it
        op, cmd = p
        if isinstance(cmd, ReverseClaim):
            region = self.claims.get(cmd.claim_id)
            if region is None:  # reversed before it arrived: its claim will follow it here
                region = self.claims[cmd.claim_id] = self.fallback
                self.new_claims.append((cmd.claim_id, region))
            return Route(n, region)
        if isinstance(cmd, Claim) and cmd.claim_id in self.claims:
            return Route(n, self.claims[cmd.claim_id])  # where its id was first seen
        if isinstance(cmd, Register | Enroll):
            home = self.deployment.region_of(cmd.region.code)
            if home is None:
                return Route(n, None, refusal(n, op, "region_not_served", (
                    f"no region of this deployment serves {cmd.region.code} (served: "
                    f"{', '.join(r.prefix for r in self.deployment.regions)})")))
            if isinstance(cmd, Register):
                ref = self.ref(cmd.person)
                regions = self.registrations.setdefault(ref, [])
                if home.prefix not in regions:
                    regions.append(home.prefix)
                    self.new_registrations.append((ref, home.prefix))
                return Route(n, home.prefix)
            return self._enroll(n, op, cmd, home.prefix)
        region = self._person_region(self.ref(cmd.person), cmd.visit_date.year
                                     if isinstance(cmd, Claim) else cmd.year)
        if isinstance(cmd, Claim) and op == "claim" and cmd.claim_id not in self.claims:
            self.claims[cmd.claim_id] = region
            self.new_claims.append((cmd.claim_id, region))
        return Route(n, region)

    def _enroll(self, n: int, op: str, cmd: Enroll, region: str) -> Route:
        ref, year = self.ref(cmd.person), cmd.year
        held = self.enrollments.get((ref, year))
        if held is None:
            holder = self.holders.get((ref, year))
            if holder is not None and holder.region != region:
                holder = self._stale(ref, year, holder, cmd, region)
            if holder is not None and holder.region != region:
                return Route(n, None, self._elsewhere(n, op, cmd, holder))
            self.enrollments[(ref, year)] = region
            mine = (ref, year) in self.won or (holder is not None and holder.region == region
                                               and holder.state == PENDING)
            return Route(n, region, reserved=(ref, year) if mine else None)
        if held != region:  # an earlier line of the same file enrolled the person there
            return Route(n, None, self._elsewhere(n, op, cmd, Holder(held, CONFIRMED,
                                                                     self.now)))
        return Route(n, region)

    def _stale(self, ref: str, year: int, holder: Holder, cmd: Enroll, region: str
               ) -> Holder | None:
        """A pending reservation past its lease, whose region shows no such enrollment, is
        taken over; otherwise it stands."""
        if holder.state != PENDING or self.now - holder.since < LEASE_SECONDS \
                or self.enrolled_in is None \
                or self.enrolled_in(holder.region, cmd.person.key, year):
            return holder
        if self.directory.take_over(ref, year, holder, region, self.now):
            self.won.add((ref, year))
            return Holder(region, PENDING, self.now)
        return self.directory.holders([(ref, year)]).get((ref, year))

    def _elsewhere(self, n: int, op: str, cmd: Enroll, holder: Holder) -> dict[str, Any]:
        name = self.deployment.by_prefix(holder.region).name
        if holder.state == PENDING:
            return refusal(n, op, "enrollment_pending_elsewhere", (
                f"{cmd.person.number}'s {cmd.year} enrollment is being recorded in region "
                f"{holder.region} ({name}); a person is enrolled in one region a year: try "
                "again once it is decided"))
        return refusal(n, op, "enrolled_elsewhere", (
            f"{cmd.person.number} is enrolled for {cmd.year} in region {holder.region} "
            f"({name}); one pooling region per year (不允许重复参保)"))

    def _person_region(self, ref: str, year: int) -> str:
        region = self.enrollments.get((ref, year))
        if region is not None:
            return region
        holder = self.holders.get((ref, year))
        if holder is not None:
            return holder.region
        registered = self.registrations.get(ref)
        return registered[-1] if registered else self.fallback
