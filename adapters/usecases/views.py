"""The read models as use cases: queries answered after a catch-up, status and rebuilds."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from attrs import frozen

from projections import queries
from projections.lookups import stamped
from projections.rows import Batch
from projections.tables import VIEWS
from projections.views import (
    LedgerViews,
    NotificationLog,
    ViewsDamaged,
    catch_up,
    fold_part,
    status,
    write_parts,
)

if TYPE_CHECKING:  # the columnar store (DuckDB, Arrow) is loaded only by what uses it
    from adapters.application.partitions import PartRunner, Plan
    from adapters.stores.columnar import ColumnarStore

#: Queries that name persons: they read the views' person codec (ADR 21).
PERSONAL_QUERIES = (queries.household, queries.person)
#: How each report's rows are ordered: the keys that merge several regions' rows as one (each
#: region-year's own order kept: its lines, then its totals and balance).
REPORT_ORDER = {queries.fund_report: ("region", "year"),
                queries.enrollment_report: ("region", "year")}
REBUILD_STEP = 20_000


@frozen
class RegionViewsJob:
    """One region's views to rebuild (`names`), or to report on (none): picklable, it crosses
    to a Dask worker."""

    prefix: str
    url: str
    policies: str | None
    names: tuple[str, ...] = ()


def ask(store: NotificationLog, views: LedgerViews, query: Callable[..., Any], *args: Any,
        refresh: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
    """Answer a query of `projections.queries` from the views, caught up with the log first
    (by `refresh` when given, for a caller that serialises catch-ups). Raises `Rejected`."""
    if query in PERSONAL_QUERIES:
        kwargs["personal"] = views.personal
    answer = query(views.engine, *args,
                   refresh=refresh or (lambda: catch_up(store, views)), **kwargs)
    if query in PERSONAL_QUERIES:  # say which clock the answer reads (ADR 68)
        return stamped(answer, kwargs.get("as_of"), kwargs.get("at_position"))
    return answer


def rebuild(store: NotificationLog, views: LedgerViews, names: list[str],
            progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Drop views and rebuild them from the log up to its head, a step a batch (ADRs 106, 116);
    `progress(reached, head)` after each step. Returns every view's status."""
    head = store.recorder.max_notification_id() or 0
    views.reset(names)
    reached = 0
    while reached < head:
        reached = catch_up(store, views, REBUILD_STEP, stop=min(head, reached + REBUILD_STEP),
                           freeze_gc=True)
        if progress is not None:
            progress(reached, head)
    return status(store, views)


@frozen
class ViewsPart:
    """One part's rows for a rebuild in parts; a part's projection reads only its own
    streams, so it never touches another part's (`foreign` is empty: ADR 80)."""

    batch: Batch
    foreign: frozenset = frozenset()


def views_part(app: Any, scratch: LedgerViews, positions: Any, names: tuple[str, ...]
               ) -> ViewsPart:
    """Fold one part of the log into the named views' rows (on a worker: `app` opened there;
    `scratch`: empty views of the store's person codec, in memory, which answer the
    projection's lookups). An event that cannot be decoded raises `ViewsDamaged` at its
    position."""
    from adapters.application.partitions import part_events

    def damaged(position: int, error: Exception) -> None:
        raise ViewsDamaged(position, error)

    events = ((le.event, le.position) for le in part_events(app, positions, damaged))
    return ViewsPart(fold_part(scratch, app.name, events, names))


def views_in_process(app: Any, scratch: LedgerViews, names: tuple[str, ...]) -> PartRunner:
    """A runner folding each part here, one after another (tests)."""

    def run(plan: Plan, parts: Any) -> Any:
        for n, part in enumerate(parts):
            yield n, views_part(app, scratch, part.positions, names)

    return run


def _written_from_parts(store: NotificationLog, views: LedgerViews, names: list[str],
                       plan: Plan, run: PartRunner, done: Callable[[int], None] | None = None
                       ) -> int | None:
    """The named views dropped and written from the plan's parts, folded by `run`, up to the
    plan's position (ADR 80): how many parts; None, writing nothing, when a part's events
    cannot be decoded (the caller then folds the log in one pass, which stops there)."""
    from adapters.application.partitions import run_apart

    try:
        results: list[ViewsPart] = run_apart(plan, run, done)
    except ViewsDamaged:
        return None
    write_parts(store, views, names, (r.batch for r in results), plan.upto)
    return len(results)


def rebuild_in_parts(store: NotificationLog, views: LedgerViews, names: list[str], plan: Plan,
                     run: PartRunner, done: Callable[[int], None] | None = None
                     ) -> tuple[list[dict[str, Any]], int]:
    """Drop the named views and rebuild them from the plan's parts (on Dask, ADR 80); then
    catch up with what the log holds past the plan. A part whose events cannot be decoded
    makes this an ordinary rebuild, which stops at the damaged event with its reason as one
    process does (ADR 47). Returns every view's status and how many parts were folded (0: the
    ordinary rebuild ran)."""
    folded = _written_from_parts(store, views, names, plan, run, done)
    if folded is None:
        return rebuild(store, views, names), 0
    catch_up(store, views, freeze_gc=True)
    return status(store, views), folded


def fresh_in_parts(parts: int, runner: Callable[[Any], PartRunner]
                   ) -> Callable[[Any, LedgerViews, int], None]:
    """A builder of `audit verify`'s throw-away views from a plan of `parts` parts folded by
    `runner(app)` (on a cluster, ADR 80); a log that cannot be folded is caught up in this
    process instead, which stops at the damaged event as without parts."""
    from adapters.application.partitions import plan_of

    def build(app: Any, fresh: LedgerViews, stop: int) -> None:
        plan = plan_of(app, parts, stop)
        if _written_from_parts(app, fresh, list(VIEWS), plan, runner(app)) is None:
            catch_up(app, fresh, stop=stop)

    return build


#: The name the columnar claims store goes by beside the views (ADR 50).
COLUMNAR = "columnar"


def columnar_status(store: NotificationLog, columns: ColumnarStore) -> dict[str, Any]:
    """The columnar store's position and lag, as a view's status."""
    from adapters.stores.columnar import catchup as columnar

    columnar.check(store, columns)
    head = store.recorder.max_notification_id() or 0
    position = columns.position
    return {"view": COLUMNAR, "position": position, "head": head,
            "lag": max(0, head - position)}


def rebuild_columnar(store: NotificationLog, columns: ColumnarStore, personal: Any,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Empty the columnar store and fold the log again up to its head; `progress(reached,
    head)` after each step. Returns its status."""
    from adapters.stores.columnar import catchup as columnar

    head = store.recorder.max_notification_id() or 0
    columns.reset()
    reached = 0
    while reached < head:
        reached = columnar.catch_up(store, columns, stop=min(head, reached + 5 * REBUILD_STEP),
                                    personal=personal)
        if progress is not None:
            progress(reached, head)
    return columnar_status(store, columns)


#: Events a views batch holds in one read of the log for the views and the columnar store
#: (as a rebuild's, ADR 106).
ONE_READ_BATCH = 25_000


def rebuild_with_columnar(store: NotificationLog, views: LedgerViews, names: list[str],
                          columns: ColumnarStore,
                          progress: Callable[[int, int], None] | None = None,
                          step: int = REBUILD_STEP, batch_size: int = ONE_READ_BATCH
                          ) -> list[dict[str, Any]]:
    """The named views and the columnar store dropped and rebuilt from ONE read of the log
    (ADR 115): each notification of either's topics read and decoded once and handed to
    both, `step` notifications a read, `batch_size` events a write; `progress(reached,
    head)` after each step. An event either cannot take, or one that does not decode, stops
    the read: each is then caught up from the position it wrote, which stops at that event
    and names it (`ViewsDamaged`) as its own rebuild does. Returns every view's status and
    the columnar store's."""
    from adapters.stores.columnar import catchup as columnar
    from projections.collector import PerBatch
    from projections.views import TOPICS as VIEW_TOPICS
    from projections.views import UNAPPLIABLE, Folder

    head = store.recorder.max_notification_id() or 0
    views.reset(names)
    columns.reset()
    rows = Folder(views, store.name, batch_size)
    cells = columnar.Folder(store, columns, views.personal, batch_size)
    topics = tuple(sorted({*VIEW_TOPICS, *columnar.TOPICS}))
    decode = store.mapper.to_domain_event
    reached = 0
    with PerBatch(True) as collector:
        while reached < head and rows.damaged is None and cells.damaged is None:
            stop = min(head, reached + step)
            try:
                for n in store.recorder.select_notifications(reached + 1, step,
                                                             stop=stop, topics=topics):
                    event = decode(n)
                    rows.take(n.id, event)
                    cells.take(n.id, event)
            except UNAPPLIABLE:  # the catch-ups below read it again and name it
                break
            reached = stop
            collector.after_batch()
            if progress is not None:
                progress(reached, head)
        else:
            rows.finish(reached)
            cells.finish(reached)
        catch_up(store, views, freeze_gc=True)
        columnar.catch_up(store, columns, personal=views.personal)
    return [*status(store, views), columnar_status(store, columns)]
