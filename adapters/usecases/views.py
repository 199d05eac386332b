"""The read models as use cases: queries answered after a catch-up, status and rebuilds."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from attrs import frozen

from projections import queries
from projections.views import LedgerViews, NotificationLog, catch_up, status

if TYPE_CHECKING:  # the columnar store (DuckDB, Arrow) is loaded only by what uses it
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
    return query(views.engine, *args,
                 refresh=refresh or (lambda: catch_up(store, views)), **kwargs)


def rebuild(store: NotificationLog, views: LedgerViews, names: list[str],
            progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Drop views and rebuild them from the log up to its head; `progress(reached, head)`
    after each step. Returns every view's status."""
    head = store.recorder.max_notification_id() or 0
    views.reset(names)
    reached = 0
    while reached < head:
        reached = catch_up(store, views, stop=min(head, reached + REBUILD_STEP),
                           freeze_gc=True)
        if progress is not None:
            progress(reached, head)
    return status(store, views)


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
