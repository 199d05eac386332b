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
from typing import Any, NamedTuple

from attrs import define, field

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


class RouteKey(NamedTuple):
    """What routing reads of one line, taken from its parse (`route_key`): small and plain, so
    that lines can be parsed on other processes and only this travels back."""

    #: "invalid", "reverse" (reverse_claim), "claim" (claim or quote), "register", "enroll",
    #: or "person" (any other command of a person)
    kind: str
    op: str | None = None
    claim_id: str | None = None
    person_key: str | None = None
    person_number: str | None = None
    region_code: str | None = None
    year: int | None = None


def route_key(parsed: Any) -> RouteKey:
    """The route key of a parsed line (`adapters.application.lines.parse_line`)."""
    if not isinstance(parsed, tuple):
        return RouteKey("invalid")
    op, cmd = parsed
    if isinstance(cmd, ReverseClaim):
        return RouteKey("reverse", op, cmd.claim_id)
    person = cmd.person
    if isinstance(cmd, Claim):
        return RouteKey("claim", op, cmd.claim_id, person.key, person.number, None,
                        cmd.visit_date.year)
    if isinstance(cmd, Register):
        return RouteKey("register", op, None, person.key, person.number, cmd.region.code)
    if isinstance(cmd, Enroll):
        return RouteKey("enroll", op, None, person.key, person.number, cmd.region.code,
                        cmd.year)
    return RouteKey("person", op, None, person.key, person.number, None, cmd.year)


def route_keys(lines: Sequence[tuple[int, str]]) -> list[tuple[int, RouteKey]]:
    """Each (line number, text) parsed into its route key (run anywhere: it reads nothing)."""
    return [(n, route_key(parse_line(text))) for n, text in lines]


class Route(NamedTuple):
    """Where one line goes: a region's prefix, or the router's own answer (`result`). A
    tuple: one is made for every line of a province's file."""

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
        return self.route_keyed(route_keys(lines))

    def route_keyed(self, keys: Sequence[tuple[int, RouteKey]]) -> list[Route]:
        """The route of each (line number, route key), in file order."""
        self._look_up(keys)
        routes = [self._route(n, k) for n, k in keys]
        self.directory.note(self.new_registrations, self.new_claims)
        self.new_registrations, self.new_claims = [], []
        return routes

    def ref(self, person_key: str) -> str:
        ref = self.refs.get(person_key)
        if ref is None:
            ref = self.refs[person_key] = person_ref(self.key, person_key)
        return ref


    # --- one directory read (and one reservation) per chunk --------------------------------

    def _look_up(self, keys: Sequence[tuple[int, RouteKey]]) -> None:
        refs: set[str] = set()
        years: set[tuple[str, int]] = set()
        claim_ids: set[str] = set()
        wanted: dict[tuple[str, int], str] = {}
        for _, k in keys:
            if k.claim_id is not None and k.claim_id not in self.claims:
                claim_ids.add(k.claim_id)
            if k.person_key is None:
                continue
            ref = self.ref(k.person_key)
            refs.add(ref)
            if k.year is not None:
                years.add((ref, k.year))
            if k.kind == "enroll":
                home = self.deployment.region_of(k.region_code)
                if home is not None and (ref, k.year) not in self.enrollments:
                    wanted.setdefault((ref, k.year), home.prefix)
        known = self.directory.registered(r for r in refs if r not in self.registrations)
        for ref, regions in known.items():
            self.registrations[ref] = regions
        self.holders = self.directory.holders(k for k in years if k not in self.enrollments)
        new = [(ref, y, r) for (ref, y), r in wanted.items() if (ref, y) not in self.holders]
        self.holders.update(self.directory.reserve(new, self.now))
        self.won = {(ref, y) for ref, y, r in new if self.holders[(ref, y)].region == r}
        self.claims.update(self.directory.claim_regions(claim_ids))

    # --- one line --------------------------------------------------------------------------

    def _route(self, n: int, k: RouteKey) -> Route:
        if k.kind == "invalid":
            return Route(n, self.fallback)  # invalid input: the ledger answers it
        if k.kind == "reverse":
            region = self.claims.get(k.claim_id)
            if region is None:  # reversed before it arrived: its claim will follow it here
                region = self.claims[k.claim_id] = self.fallback
                self.new_claims.append((k.claim_id, region))
            return Route(n, region)
        if k.kind == "claim" and k.claim_id in self.claims:
            return Route(n, self.claims[k.claim_id])  # where its id was first seen
        if k.kind in ("register", "enroll"):
            home = self.deployment.region_of(k.region_code)
            if home is None:
                return Route(n, None, refusal(n, k.op, "region_not_served", (
                    f"no region of this deployment serves {k.region_code} (served: "
                    f"{', '.join(r.prefix for r in self.deployment.regions)})")))
            if k.kind == "register":
                ref = self.ref(k.person_key)
                regions = self.registrations.setdefault(ref, [])
                if home.prefix not in regions:
                    regions.append(home.prefix)
                    self.new_registrations.append((ref, home.prefix))
                return Route(n, home.prefix)
            return self._enroll(n, k, home.prefix)
        region = self._person_region(self.ref(k.person_key), k.year)
        if k.kind == "claim" and k.op == "claim" and k.claim_id not in self.claims:
            self.claims[k.claim_id] = region
            self.new_claims.append((k.claim_id, region))
        return Route(n, region)

    def _enroll(self, n: int, k: RouteKey, region: str) -> Route:
        ref, year = self.ref(k.person_key), k.year
        held = self.enrollments.get((ref, year))
        if held is None:
            holder = self.holders.get((ref, year))
            if holder is not None and holder.region != region:
                holder = self._stale(ref, year, holder, k, region)
            if holder is not None and holder.region != region:
                return Route(n, None, self._elsewhere(n, k, holder))
            self.enrollments[(ref, year)] = region
            mine = (ref, year) in self.won or (holder is not None and holder.region == region
                                               and holder.state == PENDING)
            return Route(n, region, reserved=(ref, year) if mine else None)
        if held != region:  # an earlier line of the same file enrolled the person there
            return Route(n, None, self._elsewhere(n, k, Holder(held, CONFIRMED, self.now)))
        return Route(n, region)

    def _stale(self, ref: str, year: int, holder: Holder, k: RouteKey, region: str
               ) -> Holder | None:
        """A pending reservation past its lease, whose region shows no such enrollment, is
        taken over; otherwise it stands."""
        if holder.state != PENDING or self.now - holder.since < LEASE_SECONDS \
                or self.enrolled_in is None \
                or self.enrolled_in(holder.region, k.person_key, year):
            return holder
        if self.directory.take_over(ref, year, holder, region, self.now):
            self.won.add((ref, year))
            return Holder(region, PENDING, self.now)
        return self.directory.holders([(ref, year)]).get((ref, year))

    def _elsewhere(self, n: int, k: RouteKey, holder: Holder) -> dict[str, Any]:
        name = self.deployment.by_prefix(holder.region).name
        if holder.state == PENDING:
            return refusal(n, k.op, "enrollment_pending_elsewhere", (
                f"{k.person_number}'s {k.year} enrollment is being recorded in region "
                f"{holder.region} ({name}); a person is enrolled in one region a year: try "
                "again once it is decided"))
        return refusal(n, k.op, "enrolled_elsewhere", (
            f"{k.person_number} is enrolled for {k.year} in region {holder.region} "
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
