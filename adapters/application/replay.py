"""Replaying the recorded facts: the log read back as contract commands, decided afresh.

Every command the ledger accepted left one *primary* event (Registered, Enrolled,
ContributionPaid, …) that carries all of the command's facts, followed by the events the
decision derived (a household formed, a member covered, a payment reference claimed). Reading
the log in order, each primary event becomes the contract command that produced it; running
those commands through the same service and aggregates, into a throw-away in-memory store,
re-decides the whole history. The audit pins each command to the policy version it was decided
by and expects the very same events; a what-if runs them under patched policies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from attrs import define, field, frozen
from eventsourcing.persistence import MapperDeserialisationError
from eventsourcing.utils import get_topic

from adapters.application.ingest_run import OPERATIONAL
from adapters.application.ledger import Ledger
from adapters.application.lines import parse
from adapters.application.replay_store import ReplayStore, TrackingCache
from domain.aggregates import ClaimRef, CommandRef, Household, PaymentRef, Person, RefundRef
from domain.commands import OP_OF, Claim, command_digest
from domain.identity import number_of
from domain.ids import PUBLIC_IDS, StreamIds
from domain.policy import Policy
from domain.policy_book import PolicyBook
from domain.rules.eligibility import PLACE_FIELDS
from domain.service import LedgerService
from domain.upcasts import LATER_FIELDS
from projections.collector import PerBatch

PRIMARY: tuple[type, ...] = (
    Person.Registered, Person.EmployeeInsuranceReported, Person.IdentityRecognised,
    Person.Enrolled,
    Person.ContributionPaid, Person.SubsidyGranted, Person.Refunded,
    Household.OutpatientClaimSettled, Household.ClaimReversed, ClaimRef.Withdrawn,
)
DERIVED: tuple[type, ...] = (
    Household.Formed, Household.MemberJoined, Household.MemberCovered,
    Household.MemberSuspended, Household.MemberLeft, PaymentRef.Claimed, ClaimRef.Claimed,
    RefundRef.Claimed, CommandRef.Recorded,
)
#: Events whose decision names a policy (id, version and, since schema v2, content hash).
DECIDING: tuple[type, ...] = (
    Person.Enrolled, Person.ContributionPaid, Person.SubsidyGranted, Person.Refunded,
    Household.OutpatientClaimSettled,
)


@frozen
class LoggedEvent:
    """One event of the log with its position (notification id)."""

    position: int
    event: Any


@define
class RecordedCommand:
    """The command a primary event records, with the events it produced."""

    position: int
    recorded_at: datetime
    command: dict[str, Any]
    primary: Any
    events: list[LoggedEvent] = field(factory=list)
    #: The digest of the command as first sent, when it was applied under a command_id.
    digest: str | None = None

    @property
    def last_position(self) -> int:
        return self.events[-1].position if self.events else self.position


def read_log(app: Any, start: int = 1, upto: int | None = None, batch_size: int = 2000,
             undecodable: Callable[[int, Exception], None] | None = None,
             topics: Sequence[str] = ()) -> Iterator[LoggedEvent]:
    """Every event of the log in order (positions start..upto), decoded (only those of
    `topics` when given: the others are not even read). An event that cannot be decoded
    (altered outside the ledger) raises, or is passed to `undecodable` with its position and
    skipped, as is then an event that lacks a field of its type."""
    recorder = app.recorder
    head = recorder.max_notification_id() or 0
    if upto is not None:
        head = min(head, upto)
    to_domain_event = app.mapper.to_domain_event
    while start <= head:
        notifications = recorder.select_notifications(start, batch_size, stop=head,
                                                      topics=topics)
        if not notifications:
            return
        for n in notifications:
            try:
                event = to_domain_event(n)
            except MapperDeserialisationError as e:
                if undecodable is None:
                    raise
                undecodable(n.id, e)
                continue
            if undecodable is not None:
                missing = missing_fields(event)
                if missing:
                    undecodable(n.id, ValueError(f"its {type(event).__qualname__} lacks "
                                                 f"{', '.join(missing)}"))
                    continue
            yield LoggedEvent(n.id, event)
        start = notifications[-1].id + 1


#: A settled claim's events: the settlement and the claim's index entry (a `CommandRef` of a
#: claim sent under a command_id is told apart by its op, as it is only known decoded).
CLAIM_SETTLED: tuple[type, ...] = (Household.OutpatientClaimSettled, ClaimRef.Claimed)
CLAIM_OP = OP_OF[Claim]
#: Every other topic the ledger writes (a test proves the classes listed are all it writes).
PERSON_SIDE_TOPICS: tuple[str, ...] = tuple(
    get_topic(cls) for cls in (*PRIMARY, *DERIVED, *OPERATIONAL) if cls not in CLAIM_SETTLED)


def read_without_settled_claims(app: Any) -> Iterator[LoggedEvent]:
    """The log as `read_log` gives it without the events of settled claims (ADR 114): the
    commands `CommandReader.group` makes of it are every command but the claims settled,
    each with the very events it has in the whole log. Claims are about half a log; a
    replay of the person side does not read them."""
    for item in read_log(app, topics=PERSON_SIDE_TOPICS):
        e = item.event
        if type(e) is CommandRef.Recorded and e.op == CLAIM_OP:
            continue  # the command_id of a claim settled (its other events not read)
        yield item


_FIELDS: dict[type, tuple[str, ...]] = {}
_FIELD_SETS: dict[type, frozenset[str]] = {}


def missing_fields(event: Any) -> list[str]:
    """The fields of an event's type that the decoded event does not have (a state altered
    outside the ledger may decode into JSON without them)."""
    kind = type(event)
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = (tuple(f.name for f in dataclasses.fields(kind))
                                 if dataclasses.is_dataclass(kind) else ())
        _FIELD_SETS[kind] = frozenset(names)
    held = event.__dict__
    if held.keys() >= _FIELD_SETS[kind]:  # the usual case, in one set comparison
        return []
    return [n for n in names if n not in held and not hasattr(event, n)]


def _iso(value: date | datetime) -> str:
    return value.isoformat()



class CommandReader:
    """Turns the log's primary events back into contract commands (JSON-ready dicts)."""

    def __init__(self) -> None:
        self.person_years: dict[tuple[str, int], str] = {}  # (person key, year) -> region
        self.households: dict[UUID, tuple[str, int, str]] = {}  # id -> (head, year, region)
        self.claims: dict[str, UUID] = {}  # claim id -> household id
        self.persons: dict[UUID, str] = {}  # person aggregate id -> key
        #: Operational records passed by (the journals of ingests, ADR 45).
        self.operational = 0

    def group(self, log: Iterable[LoggedEvent]) -> Iterator[RecordedCommand]:
        """Commands in log order, each with its primary and derived events."""
        current: RecordedCommand | None = None
        for item in log:
            e = item.event
            if isinstance(e, OPERATIONAL):
                self.operational += 1
                continue
            if isinstance(e, PRIMARY):
                if current is not None:
                    yield current
                current = RecordedCommand(item.position, e.timestamp, self.command(e),
                                          e, [item])
            else:
                self._note_derived(e, current)
                if current is None:  # a log that starts mid-command (never written so)
                    current = RecordedCommand(item.position, e.timestamp, {}, None, [])
                current.events.append(item)
        if current is not None:
            yield current

    def _note_derived(self, e: Any, current: RecordedCommand | None) -> None:
        if isinstance(e, CommandRef.Recorded) and current is not None and current.command:
            current.command["command_id"] = e.command_id  # the key it was applied under
            current.digest = e.digest
        if isinstance(e, Household.Formed):
            self.households[e.originator_id] = (e.head, e.year, e.region)

    def command(self, e: Any) -> dict[str, Any]:
        """The contract command that recorded this primary event."""
        kind = type(e)
        if kind is Person.Registered:
            self.persons[e.originator_id] = e.person_key
            cmd = {"op": "register", "person": e.number, "name": e.name, "region": e.region,
                   "at": _iso(e.at), "birth_date": _iso(e.birth_date),
                   "residence_permit": e.residence_permit}
            for name in PLACE_FIELDS:
                if getattr(e, name) is not None:
                    cmd[name] = getattr(e, name)
            if not e.standard_id:
                cmd["id_type"] = "other"
                if e.sex is not None:
                    cmd["sex"] = e.sex
            return cmd
        person = number_of(self.persons.get(e.originator_id, ""))
        if kind is Person.EmployeeInsuranceReported:
            return {"op": "report_employee_insurance", "person": person, "year": e.year,
                    "at": _iso(e.at)}
        if kind is Person.IdentityRecognised:
            cmd = {"op": "recognise_identity", "person": person, "year": e.year,
                   "identity": e.identity, "region": e.region, "at": _iso(e.at)}
            if e.source is not None:
                cmd["source"] = e.source
            return cmd
        if kind is Person.Enrolled:
            key = self.persons[e.originator_id]
            self.person_years[(key, e.year)] = e.region
            cmd = {"op": "enroll", "person": person, "year": e.year, "region": e.region,
                   "at": _iso(e.at), "category": e.category,
                   "insured_before": e.prior_insured, "broken_years": e.broken_years,
                   "back_paid_years": e.back_paid_years}
            if e.household_head != key:
                cmd["household_head"] = number_of(e.household_head)
            if e.identity is not None:
                cmd["identity"] = e.identity
            return cmd
        if kind is Person.ContributionPaid:
            cmd = {"op": "pay", "person": person, "year": e.year, "amount": str(e.amount),
                   "channel": e.channel, "payment_ref": e.payment_ref, "at": _iso(e.at)}
            if e.payer != self.persons[e.originator_id]:
                cmd["payer"] = number_of(e.payer)
                cmd["payer_relation"] = e.payer_relation
            return cmd
        if kind is Person.SubsidyGranted:
            return {"op": "grant_subsidy", "person": person, "year": e.year,
                    "identity": e.identity, "at": _iso(e.at)}
        if kind is Person.Refunded:
            cmd = {"op": "refund", "person": person, "year": e.year, "reason": e.reason,
                   "at": _iso(e.at)}
            if e.requested is not None:
                cmd["amount"] = str(e.requested)
            if e.channel is not None:
                cmd["channel"] = e.channel
            if e.refund_ref is not None:
                cmd["refund_ref"] = e.refund_ref
            return cmd
        if kind is Household.OutpatientClaimSettled:
            self.claims[e.claim_id] = e.originator_id
            cmd = {"op": "claim", "claim_id": e.claim_id, "person": number_of(e.person),
                   "visit_date": _iso(e.visit_date), "facility_level": e.facility_level,
                   "facility_region": e.facility_region, "expense": str(e.expense),
                   "cause": e.cause, "at": _iso(e.at)}
            if e.third_party_share is not None:
                cmd["third_party_share"] = str(e.third_party_share)
            return cmd
        if kind is Household.ClaimReversed or kind is ClaimRef.Withdrawn:
            return {"op": "reverse_claim", "claim_id": e.claim_id, "reason": e.reason,
                    "at": _iso(e.at)}
        raise TypeError(f"not a primary event: {kind.__name__}")

    def scope_of(self, rc: RecordedCommand) -> tuple[str, int] | None:
        """The (region, year) a command belongs to; None for registrations (any scope)."""
        e = rc.primary
        if isinstance(e, Person.Registered | ClaimRef.Withdrawn) or e is None:
            return None  # a claim reversed before it came names no household yet
        if isinstance(e, Household.OutpatientClaimSettled | Household.ClaimReversed):
            hid = e.originator_id
            head, year, region = self.households.get(hid, ("", 0, ""))
            return region, year
        key = self.persons.get(e.originator_id, "")
        region = self.person_years.get((key, e.year))
        if region is None:  # reported before any enrollment that year: the person's region
            return "", e.year
        return region, e.year


def in_scope(scope: tuple[str, int] | None, region: str | None, year: int | None) -> bool:
    """Whether a command's (region, year) lies in a what-if or audit scope."""
    if scope is None:
        return True
    r, y = scope
    if year is not None and y != year:
        return False
    return region is None or r == "" or r.startswith(region)


class PinnedService(LedgerService):
    """The ledger's service, deciding each command by one given policy version (audit)."""

    def __init__(self, policies: PolicyBook, ids: StreamIds = PUBLIC_IDS) -> None:
        super().__init__(policies, ids)
        self.pinned: Policy | None = None

    def _policy(self, region: str, year: int) -> Policy:
        if self.pinned is not None:
            return self.pinned
        return super()._policy(region, year)


@frozen
class ReplayStep:
    """What replaying one recorded command gave."""

    recorded: RecordedCommand
    result: dict[str, Any]
    events: tuple[Any, ...]


class ReplayLedger(Ledger):
    """A ledger whose clock is each command's recorded time, which can pin each command to a
    policy version, and which keeps each command's new events apart."""

    def __init__(self, app: ReplayStore, book: PolicyBook, pinned: bool) -> None:
        super().__init__(app, book, clock=self._recorded_now, cache_size=10_000_000)  # type: ignore[arg-type]
        self.cache = TrackingCache(app.touched, 10_000_000)
        if pinned:
            self.service = PinnedService(book, app.ids)
        self.now: dict[int, datetime] = {}
        self.pins: dict[int, Policy | None] = {}
        self.new_events: dict[int, list[Any]] = {}
        self.digests: dict[int, str] = {}
        self._current = 0
        self.service.digest = self._recorded_digest

    def _recorded_digest(self, command: Any) -> str:
        """A command applied under a command_id keeps the digest of its first sending (the
        command read back from the log states its facts more fully than it was sent)."""
        return self.digests.get(self._current) or command_digest(command)

    def _recorded_now(self) -> datetime:
        return self.now[self._current]

    def _apply(self, uow: Any, number: int, parsed: Any, events: list[Any],
               strict: bool) -> dict[str, Any]:
        self._current = number
        if isinstance(self.service, PinnedService):
            self.service.pinned = self.pins.get(number)
        start = len(events)
        result = super()._apply(uow, number, parsed, events, strict)
        self.new_events[number] = events[start:]
        return result


def memory_ledger(book: PolicyBook, pinned: bool = False,
                  ids: StreamIds = PUBLIC_IDS) -> ReplayLedger:
    """A replay ledger on a throw-away in-memory store (`ReplayStore`), naming streams as the
    recorded store does (`ids`, ADR 25)."""
    return ReplayLedger(ReplayStore(ids), book, pinned)


#: What a replay raises on an event it cannot take as recorded (altered outside the ledger).
REPLAY_FAILURES = (AttributeError, TypeError, KeyError, ValueError, ArithmeticError)


class ReplayStopped(Exception):
    """A recorded command cannot be replayed (its events were altered outside the ledger):
    the replay stops at it; every command before it was replayed and yielded."""

    def __init__(self, position: int, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.position, self.cause = position, cause


class Replayer:
    """Runs recorded commands through the service into a throw-away in-memory ledger."""

    def __init__(self, book: PolicyBook, pin: Callable[[RecordedCommand], Policy | None]
                 | None = None, batch_size: int = 500, ids: StreamIds = PUBLIC_IDS,
                 freeze_gc: bool = False) -> None:
        self.ledger = memory_ledger(book, pinned=pin is not None, ids=ids)
        self.pin = pin
        self.batch_size = batch_size
        self.freeze_gc = freeze_gc

    def run(self, commands: Iterable[RecordedCommand]) -> Iterator[ReplayStep]:
        """Replay in batches (one atomic save each); yields one step per command, in order.

        `freeze_gc` runs the cyclic collector once per batch (`projections.collector.PerBatch`,
        ADR 112): for a process of its own (a command, a Dask task), never for a server that
        freezes its own objects (ADR 40)."""
        batch: list[RecordedCommand] = []
        with PerBatch(self.freeze_gc) as collector:
            try:
                for rc in commands:
                    batch.append(rc)
                    if len(batch) >= self.batch_size:
                        yield from self._guarded(batch)
                        batch = []
                        collector.after_batch()
            except REPLAY_FAILURES:
                # an event that cannot be read as a command's: the commands read before it
                # are replayed (and yielded) first, then the replay stops
                yield from self._guarded(batch)
                raise
            if batch:
                yield from self._guarded(batch)

    def _guarded(self, batch: list[RecordedCommand]) -> Iterator[ReplayStep]:
        """A batch's steps; when one of its commands cannot be replayed, the commands before
        it are replayed one by one and yielded, and `ReplayStopped` names the one that
        cannot (a failed batch saves nothing: the ledger is as before it)."""
        try:
            steps = list(self._run(batch))
        except REPLAY_FAILURES as e:
            self._forget()
            if len(batch) == 1:
                raise ReplayStopped(batch[0].position, e) from e
            for rc in batch:
                yield from self._guarded([rc])
            return
        yield from steps

    def _forget(self) -> None:
        ledger = self.ledger
        for kept in (ledger.now, ledger.pins, ledger.digests, ledger.new_events):
            kept.clear()

    def _run(self, batch: list[RecordedCommand]) -> Iterator[ReplayStep]:
        ledger = self.ledger
        parsed = []
        for number, rc in enumerate(batch, start=1):
            ledger.now[number] = rc.recorded_at
            if self.pin is not None:
                ledger.pins[number] = self.pin(rc)
            if rc.digest is not None:
                ledger.digests[number] = rc.digest
            parsed.append((number, parse(rc.command)))
        results = ledger._run_batch(parsed)
        for number, (rc, result) in enumerate(zip(batch, results, strict=True), start=1):
            yield ReplayStep(rc, result, tuple(ledger.new_events.pop(number, ())))
        ledger.now.clear()
        ledger.pins.clear()
        ledger.digests.clear()


def differences(recorded: Any, fresh: Any) -> dict[str, tuple[Any, Any]]:
    """Field by field (its id, version and timestamp included), what differs between a
    recorded event and its re-decision. A field the stored schema gained later
    (`LATER_FIELDS`) that an older event never recorded is not a difference."""
    if type(recorded) is not type(fresh):
        return {"kind": (type(recorded).__qualname__, type(fresh).__qualname__)}
    a, b = recorded.__dict__, fresh.__dict__
    if a == b:
        return {}
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and not (k in LATER_FIELDS and a.get(k) is None)}


def plain(value: Any) -> Any:
    """A JSON-ready form of an event field value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


def recorded_policy(book: PolicyBook, event: Any) -> tuple[Policy | None, str | None]:
    """The policy version a decision names, or why it cannot be used to re-decide."""
    policy = book.get(event.policy_id, event.policy_version)
    if policy is None:
        return None, (f"the policy {event.policy_id}@{event.policy_version} that decided it "
                      "is no longer loadable")
    recorded_hash = getattr(event, "policy_hash", None)
    if recorded_hash is not None and recorded_hash != policy.content_hash:
        return None, (f"the policy file {policy.ref} changed since the decision: recorded "
                      f"hash {recorded_hash[:12]}, now {policy.content_hash[:12]}")
    return policy, None
