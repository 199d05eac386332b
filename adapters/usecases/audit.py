"""`audit verify`: every recorded decision re-decided, every view rebuilt and compared.

The chain check (tamper evidence) lives in `adapters.stores.chain`; this module re-decides the
history and compares the read models, and `verify` puts the three together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from attrs import define, field
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from adapters.application.replay import (
    DECIDING,
    CommandReader,
    LoggedEvent,
    RecordedCommand,
    Replayer,
    differences,
    plain,
    read_log,
    recorded_policy,
)
from domain.errors import LedgerError
from domain.policy import Policy
from domain.policy_book import PolicyBook
from projections.tables import VIEW_TABLES
from projections.views import LedgerViews, ViewsDamaged, catch_up

MAX_LISTED_FIELDS = 12


@define
class Findings:
    """What one audit check looked at and every discrepancy it found."""

    checked: dict[str, int] = field(factory=dict)
    problems: list[dict[str, Any]] = field(factory=list)

    def add(self, kind: str, message: str, **where: Any) -> None:
        self.problems.append({"kind": kind, **{k: plain(v) for k, v in where.items()},
                              "message": message})


def _stream(event: Any) -> str:
    return str(event.originator_id)


def verify_decisions(app: Any, book: PolicyBook, upto: int | None = None) -> Findings:
    """Re-decide every recorded command under the policy version that decided it, in a
    throw-away in-memory ledger, and compare every event it gives with the recorded one."""
    findings = Findings(checked={"commands": 0, "decisions": 0, "events": 0})
    reader = CommandReader()

    def pin(rc: RecordedCommand) -> Policy | None:
        if isinstance(rc.primary, DECIDING):
            return recorded_policy(book, rc.primary)[0]
        return None

    head = app.recorder.max_notification_id() or 0
    upto = head if upto is None else min(upto, head)
    replayer = Replayer(book, pin=pin, ids=app.ids)

    def undecodable(position: int, error: Exception) -> None:
        findings.add("undecodable_event", f"the event at position {position} cannot be "
                     f"decoded, so its command is not re-decided: {error}", position=position)

    seen = [0]  # the position of the last event read

    def tracked(log: Iterator[LoggedEvent]) -> Iterator[LoggedEvent]:
        for item in log:
            seen[0] = item.position
            yield item

    log = tracked(read_log(app, upto=upto, undecodable=undecodable))
    try:
        for step in replayer.run(reader.group(log)):
            _check_step(step, book, upto, findings)
    except (AttributeError, TypeError, KeyError, ValueError, ArithmeticError) as e:
        findings.add("replay_stopped", f"re-deciding stopped at position {seen[0]}: an event "
                     f"there cannot be replayed as recorded ({type(e).__name__}: {e}); the "
                     "events after it are not re-decided", position=seen[0])
    findings.checked["events"] += reader.operational  # journals: chained, not decided
    return findings


def _check_step(step: Any, book: PolicyBook, upto: int, findings: Findings) -> None:
    """Compare one re-decided command with what was recorded."""
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
                         stream=_stream(rc.primary), event=kind)
    if step.result["status"] != "ok":
        findings.add("rejected_on_replay",
                     f"recorded as accepted, but deciding it again rejects it: "
                     f"{step.result['reason']}: {step.result['message']}",
                     position=rc.position, stream=_stream(rc.primary), event=kind,
                     reason=step.result["reason"])
        return
    recorded = [le for le in rc.events]
    fresh = list(step.events)
    cut = rc.last_position >= upto and len(fresh) > len(recorded)
    if len(fresh) != len(recorded) and not cut:
        findings.add("events_differ",
                     f"the command recorded {len(recorded)} event(s); deciding it again "
                     f"gives {len(fresh)}", position=rc.position,
                     stream=_stream(rc.primary), event=kind)
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
                fields={k: {"recorded": plain(a), "redecided": plain(b)}
                        for k, (a, b) in shown.items()})


#: Tables whose rows are never rewritten (each carries the position of the event that wrote
#: it), so their state at a past position is the rows up to it.
APPEND_ONLY = ("person_registry", "person_year_version")


def _table_rows(engine: Engine, table: Any, upto: int | None = None) -> list[tuple]:
    query = select(table)
    if upto is not None:
        query = query.where(table.c.position <= upto)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return sorted((tuple(_neutral(v) for v in r) for r in rows), key=repr)


def _neutral(value: Any) -> Any:
    """A column's value as any dialect gives it (the rebuild runs in SQLite, the live views
    may be in PostgreSQL): booleans as 0/1, whole decimals as int, binary as bytes."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def verify_views(app: Any, views: LedgerViews, book: PolicyBook,
                 names: Iterable[str] | None = None, upto: int | None = None) -> Findings:
    """Rebuild each view from the log into a throw-away database and compare it, table by
    table and row by row, with the live view (caught up to the same position first).

    At a past position (`upto`) only the append-only tables can show how they stood then;
    the tables that keep current state are listed under `checked["skipped"]`.
    """
    findings = Findings(checked={"views": 0, "tables": 0, "rows": 0})
    names = tuple(names or VIEW_TABLES)
    head = app.recorder.max_notification_id() or 0
    past = upto is not None and upto < head
    stop = min(upto, head) if upto is not None else head
    skipped: list[str] = []
    fresh_engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        fresh = LedgerViews(fresh_engine, book, app.name, personal=views.personal)
        fresh.create_tables()
        try:
            catch_up(app, fresh, stop=stop)
            catch_up(app, views)
        except ViewsDamaged as e:  # a damaged log: the chain check says where and how
            findings.add("views_stopped", str(e), position=e.position)
            return findings
        live_positions = views.positions()
        for name in names:
            findings.checked["views"] += 1
            if live_positions.get(name, 0) < stop:
                findings.add("view_behind", f"the view {name} stands at position "
                             f"{live_positions.get(name)}, the log at {stop}", view=name)
                continue
            for table in VIEW_TABLES[name]:
                if past and table.name not in APPEND_ONLY:
                    skipped.append(table.name)
                    continue
                findings.checked["tables"] += 1
                live_rows = _table_rows(views.engine, table, stop if past else None)
                fresh_rows = _table_rows(fresh_engine, table)
                findings.checked["rows"] += len(live_rows)
                _compare_rows(findings, name, table, live_rows, fresh_rows)
    finally:
        fresh_engine.dispose()
    if skipped:
        findings.checked["skipped"] = skipped  # type: ignore[assignment]
    return findings


def _compare_rows(findings: Findings, name: str, table: Any, live: list[tuple],
                  fresh: list[tuple]) -> None:
    if live == fresh:
        return
    columns = [c.name for c in table.columns]
    live_set, fresh_set = set(live), set(fresh)
    extra = [r for r in live if r not in fresh_set]
    missing = [r for r in fresh if r not in live_set]
    for row in extra[:20]:
        findings.add("view_row_differs", f"{table.name} holds a row its rebuild does not",
                     view=name, table=table.name, row=dict(zip(columns, row, strict=True)))
    for row in missing[:20]:
        findings.add("view_row_missing", f"{table.name} lacks a row its rebuild has",
                     view=name, table=table.name, row=dict(zip(columns, row, strict=True)))
    if len(extra) + len(missing) > 40:
        findings.add("view_rows_differ", f"{table.name}: {len(extra)} row(s) not in the "
                     f"rebuild, {len(missing)} row(s) missing (first 20 of each listed)",
                     view=name, table=table.name)


class AuditUnavailable(LedgerError):
    """The audit cannot run: the store has no chain, or the key is not the store's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def run_audit(app: Any, book: PolicyBook, views: LedgerViews | None = None,
              at_position: int | None = None, expected_seal: Any = None) -> dict[str, Any]:
    """`audit verify`: the chain up to a position, every decision re-decided, and (when the
    views are given) every view compared with its rebuild; one JSON-ready report."""
    from adapters.stores.chain import verify_chain

    head = app.recorder.max_notification_id() or 0
    upto = head if at_position is None else min(at_position, head)
    try:
        chain = verify_chain(app, app.audit_key, upto=upto, expected_seal=expected_seal)
    except LedgerError as e:
        raise AuditUnavailable("audit_unavailable", f"audit: {e}") from None
    wrong = [p for p in chain.problems if p.kind in ("wrong_key", "fingerprint")]
    if wrong:
        raise AuditUnavailable("audit_key_mismatch", f"audit: {wrong[0].message}")
    decisions = verify_decisions(app, book, upto=upto)
    chain_report = chain.as_dict()
    checks: dict[str, Any] = {
        "chain": {"checked": {"events": chain.events_checked, "streams": chain.streams_checked,
                              "links": chain.links_checked},
                  "keyed": chain.keyed,
                  **{k: chain_report[k] for k in ("seal", "notes", "problems")}},
        "decisions": {"checked": decisions.checked, "problems": decisions.problems},
    }
    if views is not None:
        found = verify_views(app, views, book, upto=upto)
        checks["views"] = {"checked": found.checked, "problems": found.problems}
    problems = chain.problem_count + sum(len(c["problems"]) for name, c in checks.items()
                                         if name != "chain")
    return {"position": upto, "clean": problems == 0, "problems": problems, **checks}
