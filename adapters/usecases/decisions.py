"""`audit verify`'s re-decision: every recorded command decided again under the policy version
that decided it, whole or one partition at a time (ADR 54), with the same findings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from attrs import define, field, frozen

from adapters.application.partitions import (
    Part,
    PartRunner,
    Plan,
    head_of,
    noting,
    part_events,
    run_apart,
)
from adapters.application.replay import (
    DECIDING,
    REPLAY_FAILURES,
    CommandReader,
    LoggedEvent,
    RecordedCommand,
    Replayer,
    ReplayStopped,
    differences,
    plain,
    read_log,
    recorded_policy,
)
from domain.policy import Policy
from domain.policy_book import PolicyBook

MAX_LISTED_FIELDS = 12
COUNTS = ("commands", "decisions", "events")


@define
class Findings:
    """What one audit check looked at and every discrepancy it found."""

    checked: dict[str, int] = field(factory=dict)
    problems: list[dict[str, Any]] = field(factory=list)

    def add(self, kind: str, message: str, **where: Any) -> None:
        self.problems.append({"kind": kind, **{k: plain(v) for k, v in where.items()},
                              "message": message})


@frozen
class PartFindings:
    """What re-deciding one part found: counts, each problem keyed by the log position of
    the command that gave it (then its order within it), and the streams the replay touched
    that the part does not hold (`foreign`, ADR 54)."""

    checked: dict[str, int]
    problems: tuple[tuple[int, int, dict[str, Any]], ...]
    foreign: frozenset[UUID]


def _stream(event: Any) -> str:
    """A stream id as every finding writes it: the UUID with dashes (ADR 76)."""
    return str(event.originator_id)


def _subject(event: Any, app: Any) -> dict[str, Any]:
    """Whom a decision finding is about (ADR 76): the person, or the household's head and
    year, by ID number, and the claim. Read from the recorded event where it names them (a
    registration's person, a household's head), so that the finding is the same whichever
    replay met it (one of the whole log or of a part, ADR 54); else from the replay's own
    aggregate of the event's stream."""
    from domain.aggregates import Household, Person
    from domain.identity import number_of

    about: dict[str, Any] = {}
    aggregate = None
    if isinstance(getattr(event, "person_key", None), str):
        about["person"] = number_of(event.person_key)
    elif isinstance(getattr(event, "head", None), str):
        about["household_head"] = number_of(event.head)
    else:
        aggregate = app.get_or_none(event.originator_id)
        if isinstance(aggregate, Person):
            about["person"] = number_of(aggregate.key)
        elif isinstance(aggregate, Household):
            about["household_head"] = number_of(aggregate.head)
    year = getattr(event, "year", None) or getattr(aggregate, "year", None)
    if isinstance(year, int):
        about["year"] = year
    claim = getattr(event, "claim_id", None)
    if isinstance(claim, str):
        about["claim"] = claim
    return about


Log = Callable[[Callable[[int, Exception], None]], Iterable[LoggedEvent]]


def redecide(app: Any, book: PolicyBook, log_of: Log, upto: int, freeze_gc: bool = False,
             observe: Callable[[int, Any], None] | None = None
             ) -> tuple[Findings, list[int], set[UUID], CommandReader]:
    """Re-decide the commands of a log (all of it, or a part's events: `log_of(undecodable)`
    reads it, passing every event it cannot decode to `undecodable`) and compare; returns the
    findings, the log position each problem is keyed by (the command behind it, or the event
    it names), the streams the replay touched, and the reader (for its count of operational
    records); `observe(position, event)` is shown every event read, in log order."""
    findings = Findings(checked={"commands": 0, "decisions": 0, "events": 0})
    keys: list[int] = []
    reader = CommandReader()

    def pin(rc: RecordedCommand) -> Policy | None:
        if isinstance(rc.primary, DECIDING):
            return recorded_policy(book, rc.primary)[0]
        return None

    def undecodable(position: int, error: Exception) -> None:
        findings.add("undecodable_event", f"the event at position {position} cannot be "
                     f"decoded, so its command is not re-decided: {error}", position=position)
        keys.append(position)

    seen = [0]  # the position of the last event read

    def tracked(log: Iterable[LoggedEvent]) -> Iterator[LoggedEvent]:
        for item in log:
            seen[0] = item.position
            if observe is not None:
                observe(item.position, item.event)
            yield item

    replayer = Replayer(book, pin=pin, ids=app.ids, freeze_gc=freeze_gc)
    try:
        for step in replayer.run(reader.group(tracked(log_of(undecodable)))):
            before = len(findings.problems)
            _check(findings, book, step, upto, replayer.ledger.app)
            keys.extend([step.recorded.position] * (len(findings.problems) - before))
    except ReplayStopped as e:  # a command whose events cannot be replayed as recorded
        _stopped(findings, keys, e.position, e.cause)
    except REPLAY_FAILURES as e:  # an event that cannot even be read as a command's
        _stopped(findings, keys, seen[0], e)
    return findings, keys, replayer.ledger.app.touched, reader


def _stopped(findings: Findings, keys: list[int], position: int, error: BaseException
             ) -> None:
    findings.add("replay_stopped", f"re-deciding stopped at position {position}: an event "
                 f"there cannot be replayed as recorded ({type(error).__name__}: {error}); "
                 "the events after it are not re-decided", position=position)
    keys.append(position)


def in_log_order(findings: Findings, keys: list[int]) -> Findings:
    """The problems ordered by the position each is keyed by, keeping their order within a
    position: the order the partitioned re-decision merges its parts' problems in."""
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    return Findings(findings.checked, [findings.problems[i] for i in order])


def _check(findings: Findings, book: PolicyBook, step: Any, upto: int, app: Any) -> None:
    rc = step.recorded
    findings.checked["commands"] += 1
    findings.checked["events"] += len(rc.events)
    if rc.primary is None:
        findings.add("orphan_events", "events that no recorded command explains",
                     position=rc.position)
        return
    kind = type(rc.primary).__qualname__
    if isinstance(rc.primary, DECIDING):
        findings.checked["decisions"] += 1
        _, why = recorded_policy(book, rc.primary)
        if why:
            findings.add("policy_unavailable", why, position=rc.position,
                         stream=_stream(rc.primary), event=kind, **_subject(rc.primary, app))
    if step.result["status"] != "ok":
        findings.add("rejected_on_replay",
                     f"recorded as accepted, but deciding it again rejects it: "
                     f"{step.result['reason']}: {step.result['message']}",
                     position=rc.position, stream=_stream(rc.primary), event=kind,
                     reason=step.result["reason"], **_subject(rc.primary, app))
        return
    recorded = rc.events
    fresh = step.events
    cut = rc.last_position >= upto and len(fresh) > len(recorded)
    if len(fresh) != len(recorded) and not cut:
        findings.add("events_differ",
                     f"the command recorded {len(recorded)} event(s); deciding it again "
                     f"gives {len(fresh)}", position=rc.position,
                     stream=_stream(rc.primary), event=kind, **_subject(rc.primary, app))
    for le, new in zip(recorded, fresh, strict=False):
        diff = differences(le.event, new)
        if diff:
            shown = dict(list(diff.items())[:MAX_LISTED_FIELDS])
            findings.add(
                "decision_differs",
                f"{type(le.event).__qualname__} v{le.event.originator_version} differs "
                f"from its re-decision in {', '.join(diff)}",
                position=le.position, stream=_stream(le.event),
                version=le.event.originator_version, event=type(le.event).__qualname__,
                **_subject(le.event, app),
                fields={k: {"recorded": plain(a), "redecided": plain(b)}
                        for k, (a, b) in shown.items()})


def verify_decisions(app: Any, book: PolicyBook, upto: int | None = None,
                     freeze_gc: bool = False, observe: Callable[[int, Any], None] | None = None
                     ) -> Findings:
    """Re-decide every recorded command under the policy version that decided it, in a
    throw-away in-memory ledger, and compare every event it gives with the recorded one
    (`freeze_gc`: see `Replayer.run`; `observe`: see `redecide`)."""
    upto = head_of(app, upto)
    findings, keys, _, reader = redecide(
        app, book, lambda undecodable: read_log(app, upto=upto, undecodable=undecodable),
        upto, freeze_gc, observe)
    findings.checked["events"] += reader.operational  # journals: chained, not decided
    return in_log_order(findings, keys)


# --- one partition at a time ------------------------------------------------------------------


def verify_part(app: Any, book: PolicyBook, positions: Sequence[int], upto: int,
                freeze_gc: bool = False) -> PartFindings:
    """Re-decide one part's commands (on a worker: `app` opened there, read-only)."""
    own: set[UUID] = set()
    findings, keys, touched, _ = redecide(
        app, book, lambda undecodable: noting(part_events(app, positions, undecodable), own),
        upto, freeze_gc)
    order: dict[int, int] = {}
    problems = []
    for key, problem in zip(keys, findings.problems, strict=True):
        n = order[key] = order.get(key, -1) + 1
        problems.append((key, n, problem))
    return PartFindings(findings.checked, tuple(problems), frozenset(touched - own))


def verify_partitioned(plan: Plan, run: PartRunner,
                       done: Callable[[int], None] | None = None) -> Findings:
    """Re-decide a plan's parts with `run` and merge their findings into exactly what
    `verify_decisions` gives: counts summed, problems in the order of the log (ADR 54).
    `done` is told how many events each completed part held."""
    results: list[PartFindings] = run_apart(plan, run, done)
    checked = {name: sum(r.checked[name] for r in results) for name in COUNTS}
    checked["events"] += plan.operational
    problems = sorted((p for r in results for p in r.problems), key=lambda p: (p[0], p[1]))
    stops = [p[0] for p in problems if p[2]["kind"] == "replay_stopped"]
    if stops:  # one replay of the whole log stops there: so do the merged findings
        problems = [p for p in problems if p[0] <= stops[0]]
    return Findings(checked, [p[2] for p in problems])


def in_process(app: Any, book: PolicyBook, freeze_gc: bool = False) -> PartRunner:
    """A runner checking each part here, one after another (tests, and a store the workers
    are to read the same way; `freeze_gc`: see `Replayer.run`)."""

    def run(plan: Plan, parts: Sequence[Part]) -> Iterator[tuple[int, PartFindings]]:
        for n, part in enumerate(parts):
            yield n, verify_part(app, book, part.positions, plan.upto, freeze_gc)

    return run
