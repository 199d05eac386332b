"""`audit verify`: every recorded decision re-decided, every view rebuilt and compared.

The chain check (tamper evidence) lives in `adapters.stores.chain` and the re-decision of the
history in `adapters.usecases.decisions`; this module compares the read models, and
`run_audit` puts the three together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from adapters.usecases.decisions import Findings, verify_decisions
from domain.errors import LedgerError
from domain.policy_book import PolicyBook
from projections.tables import VIEW_TABLES
from projections.views import (
    FAR_STEP,
    BatchFolder,
    Folder,
    LedgerViews,
    ViewsDamaged,
    alongside,
    catch_up,
)

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


#: Builds the throw-away views up to a position (ADR 80: from parts folded on a cluster);
#: raises `ViewsDamaged` where the log cannot be folded.
FreshViews = Callable[[Any, LedgerViews, int], None]


def fresh_in_process(app: Any, fresh: LedgerViews, stop: int) -> None:
    catch_up(app, fresh, stop=stop)


def decisions_in_own_process(app: Any, book: PolicyBook, upto: int) -> Findings:
    """`verify_decisions` for a process of its own (a command, a Dask task): the collector
    frozen after each batch (`Replayer.run`'s `freeze_gc`)."""
    return verify_decisions(app, book, upto, freeze_gc=True)


def fresh_in_own_process(app: Any, fresh: LedgerViews, stop: int) -> None:
    """`fresh_in_process` for a process of its own (a command, a Dask task): the collector
    frozen after each batch (`catch_up`'s `freeze_gc`)."""
    catch_up(app, fresh, stop=stop, freeze_gc=True)


def verify_views(app: Any, views: LedgerViews, book: PolicyBook,
                 names: Iterable[str] | None = None, upto: int | None = None,
                 build: FreshViews = fresh_in_process,
                 fresh: LedgerViews | None = None) -> Findings:
    """Rebuild each view from the log into a throw-away database (by `build`: in this
    process, or in parts on a cluster; or take `fresh`, views rebuilt already to the
    position in such a database, ADR 109) and compare it, table by table and row by row,
    with the live view (caught up to the same position first).

    At a past position (`upto`) only the append-only tables can show how they stood then;
    the tables that keep current state are listed under `checked["skipped"]`.
    """
    findings = Findings(checked={"views": 0, "tables": 0, "rows": 0})
    names = tuple(names or VIEW_TABLES)
    head = app.recorder.max_notification_id() or 0
    past = upto is not None and upto < head
    stop = min(upto, head) if upto is not None else head
    skipped: list[str] = []
    given = fresh is not None
    if fresh is None:
        fresh = LedgerViews(create_engine("sqlite://", poolclass=StaticPool), book, app.name,
                            personal=views.personal)
    fresh_engine = fresh.engine
    try:
        try:
            if not given:
                fresh.create_tables()
                build(app, fresh, stop)
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
                alike = _alike_in_sqlite(views.engine, fresh_engine, table,
                                         stop if past else None)
                if alike is not None:  # equal row for row: counted, nothing to report
                    findings.checked["rows"] += alike
                    continue
                live_rows = _table_rows(views.engine, table, stop if past else None)
                fresh_rows = _table_rows(fresh_engine, table)
                findings.checked["rows"] += len(live_rows)
                _compare_rows(findings, name, table, live_rows, fresh_rows,
                              lambda row: _row_subject(views, row))
    finally:
        if not given:
            fresh_engine.dispose()
    if skipped:
        findings.checked["skipped"] = skipped  # type: ignore[assignment]
    return findings


def _alike_in_sqlite(live: Engine, fresh: Engine, table: Any, upto: int | None
                     ) -> int | None:
    """The live table's row count when it holds exactly the rows of its rebuild, compared by
    SQLite itself (the live views in an SQLite file attached to the rebuild's database: both
    ways of `EXCEPT` empty; every view table has a primary key, so sets are the rows); None
    when the live views are elsewhere or differ, and the rows are then compared here one by
    one to name each difference (ADR 107)."""
    path = live.url.database if live.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    where = "" if upto is None else f" WHERE position <= {int(upto)}"
    ours, theirs = f'live."{table.name}"', f'main."{table.name}"'
    with fresh.connect() as conn:
        conn.exec_driver_sql("ATTACH DATABASE ? AS live", (path,))
        try:
            differs = conn.exec_driver_sql(
                f"SELECT EXISTS (SELECT {columns} FROM {ours}{where} EXCEPT "
                f"SELECT {columns} FROM {theirs}) OR EXISTS (SELECT {columns} FROM {theirs} "
                f"EXCEPT SELECT {columns} FROM {ours}{where})").scalar()
            count = None if differs else conn.exec_driver_sql(
                f"SELECT COUNT(*) FROM {ours}{where}").scalar()
        finally:
            conn.rollback()
            conn.exec_driver_sql("DETACH DATABASE live")
    return count


def _compare_rows(findings: Findings, name: str, table: Any, live: list[tuple],
                  fresh: list[tuple], subject: Callable[[dict[str, Any]], dict[str, Any]]
                  ) -> None:
    if live == fresh:
        return
    columns = [c.name for c in table.columns]
    live_set, fresh_set = set(live), set(fresh)
    extra = [r for r in live if r not in fresh_set]
    missing = [r for r in fresh if r not in live_set]
    for found, what in ((extra, ("view_row_differs", "holds a row its rebuild does not")),
                        (missing, ("view_row_missing", "lacks a row its rebuild has"))):
        for row in found[:20]:
            fields = dict(zip(columns, row, strict=True))
            about = subject(fields)
            findings.add(what[0], f"{table.name} {what[1]}{_naming(about)}", view=name,
                         table=table.name, **about, row=fields)
    if len(extra) + len(missing) > 40:
        findings.add("view_rows_differ", f"{table.name}: {len(extra)} row(s) not in the "
                     f"rebuild, {len(missing)} row(s) missing (first 20 of each listed)",
                     view=name, table=table.name)


def _naming(about: dict[str, Any]) -> str:
    """`about` in words: ": person N, household of H for Y, claim C" ("" if it names none)."""
    parts = []
    if "person" in about:
        parts.append(f"person {about['person']}")
    if "household_head" in about:
        parts.append(f"household of {about['household_head']}"
                     + (f" for {about['year']}" if "year" in about else ""))
    elif "year" in about and "person" in about:
        parts[-1] += f" for {about['year']}"
    if "household" in about:
        parts.append(f"household {about['household']}")
    if "claim" in about:
        parts.append(f"claim {about['claim']}")
    return ": " + ", ".join(parts) if parts else ""


def _row_subject(views: LedgerViews, row: dict[str, Any]) -> dict[str, Any]:
    """Whom a view row is about, as a finding names it (ADR 76): the person and the household
    head by their ID numbers (the views may hold pseudonyms: they are looked up), the year,
    the household's stream id, the claim."""
    from domain.identity import number_of
    from projections.queries import person_keys

    about: dict[str, Any] = {}
    persons = {k: row[k] for k in ("person", "head", "household_head")
               if isinstance(row.get(k), str)}
    try:
        with views.engine.connect() as conn:
            keys = person_keys(conn, views.personal, persons.values())
        numbers = {k: number_of(keys[v]) for k, v in persons.items()}
    except (LedgerError, ValueError, KeyError):  # a damaged registry row: the raw values
        numbers = dict(persons)
    if "person" in numbers:
        about["person"] = numbers["person"]
    head = numbers.get("head") or numbers.get("household_head")
    if head is not None:
        about["household_head"] = head
    if isinstance(row.get("year"), int):
        about["year"] = row["year"]
    if row.get("household_id"):
        about["household"] = str(row["household_id"])
    if row.get("claim_id"):
        about["claim"] = str(row["claim_id"])
    return about


class AuditUnavailable(LedgerError):
    """The audit cannot run: the store has no chain, or the key is not the store's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


#: The decision re-check: (store, policy book, position) -> findings.
DecisionCheck = Callable[[Any, PolicyBook, int], Findings]


def _decided_and_folded(app: Any, book: PolicyBook, views: LedgerViews, upto: int,
                        own_process: bool, far_step: int = FAR_STEP
                        ) -> tuple[Findings, LedgerViews | None]:
    """Every decision re-decided and, from the same read of the log, the views rebuilt to
    `upto` in a throw-away database (ADR 109) and the live views, when more than `far_step`
    behind, caught up in far steps to within `far_step` of it (ADR 117). The rebuilt views
    are None (and `verify_views` rebuilds them from the log, as it would have) when the read
    did not fold every event: an event that does not decode, a replay that stopped, an event
    the views cannot apply."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    fresh = LedgerViews(engine, book, app.name, personal=views.personal)
    fresh.create_tables()
    folder = Folder(fresh, app.name)
    live = alongside(views, app.name, upto, far_step)
    observe = folder.take if live is None else _both(folder, live)
    try:
        decisions = verify_decisions(app, book, upto, freeze_gc=own_process, observe=observe)
        folder.finish(upto)
        if live is not None:
            live.finish(upto)
    except BaseException:
        engine.dispose()
        raise
    irregular = {"undecodable_event", "replay_stopped"}
    if (folder.damaged is not None or folder.last != upto
            or any(p["kind"] in irregular for p in decisions.problems)):
        engine.dispose()
        return decisions, None
    return decisions, fresh


def _both(first: BatchFolder, second: BatchFolder) -> Callable[[int, Any], None]:
    """Each event read shown to both folders."""
    def take(position: int, event: Any) -> None:
        first.take(position, event)
        second.take(position, event)
    return take


def run_audit(app: Any, book: PolicyBook, views: LedgerViews | None = None,
              at_position: int | None = None, expected_seal: Any = None,
              decisions_check: DecisionCheck | None = None,
              decisions_elsewhere: bool = False,
              fresh_views: FreshViews = fresh_in_process,
              far_step: int = FAR_STEP) -> dict[str, Any]:
    """`audit verify`: the chain up to a position, every decision re-decided (by
    `decisions_check`, default in this process), and (when the views are given) every view
    compared with its rebuild; one JSON-ready report. A check that runs `elsewhere` (on a
    Dask cluster, ADR 55) is waited for on a thread of its own while this process checks the
    chain and the views; `fresh_views` builds the views the live ones are compared with (on
    the cluster too, ADR 80). Live views more than `far_step` behind are caught up in far
    steps from the decisions' read of the log when both run here (ADR 117)."""
    from adapters.stores.chain import verify_chain

    head = app.recorder.max_notification_id() or 0
    upto = head if at_position is None else min(at_position, head)
    decide = decisions_check or verify_decisions
    aside = ThreadPoolExecutor(1, thread_name_prefix="decisions") if decisions_elsewhere \
        else None
    pending = aside.submit(decide, app, book, upto) if aside is not None else None
    # one read of the log for the decisions and the rebuilt views, when both run here
    shared = (views is not None and aside is None
              and decisions_check in (None, decisions_in_own_process)
              and fresh_views in (fresh_in_process, fresh_in_own_process))
    fresh: LedgerViews | None = None
    try:
        try:
            chain = verify_chain(app, app.audit_key, upto=upto, expected_seal=expected_seal)
        except LedgerError as e:
            raise AuditUnavailable("audit_unavailable", f"audit: {e}") from None
        wrong = [p for p in chain.problems if p.kind in ("wrong_key", "fingerprint")]
        if wrong:
            raise AuditUnavailable("audit_key_mismatch", f"audit: {wrong[0].message}")
        if pending is None and shared and views is not None:
            decisions, fresh = _decided_and_folded(
                app, book, views, upto,
                own_process=decisions_check is decisions_in_own_process, far_step=far_step)
        elif pending is None:
            decisions = decide(app, book, upto)
        found = (verify_views(app, views, book, upto=upto, build=fresh_views, fresh=fresh)
                 if views is not None else None)
        if pending is not None:
            decisions = pending.result()
    finally:
        if aside is not None:
            aside.shutdown(wait=False, cancel_futures=True)
        if fresh is not None:
            fresh.engine.dispose()
    chain_report = chain.as_dict()
    checks: dict[str, Any] = {
        "chain": {"checked": {"events": chain.events_checked, "streams": chain.streams_checked,
                              "links": chain.links_checked},
                  "keyed": chain.keyed,
                  **{k: chain_report[k] for k in ("seal", "notes", "problems")}},
        "decisions": {"checked": decisions.checked, "problems": decisions.problems},
    }
    if found is not None:
        checks["views"] = {"checked": found.checked, "problems": found.problems}
    problems = chain.problem_count + sum(len(c["problems"]) for name, c in checks.items()
                                         if name != "chain")
    return {"position": upto, "clean": problems == 0, "problems": problems, **checks}
