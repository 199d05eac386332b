"""The replays' parts as Dask tasks: `audit verify`'s re-decision and the exact what-if, one
part per task."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from adapters.application.partitions import Part, PartRunner, Plan, plan_of
from adapters.composition import StoreSource, open_source, open_views
from adapters.parallel.cluster import PARTS_PER_THREAD, ClusterUnavailable, threads_of
from adapters.usecases.audit import DecisionCheck, FreshViews
from adapters.usecases.decisions import (
    Findings,
    PartFindings,
    verify_part,
    verify_partitioned,
)
from adapters.usecases.views import ViewsPart, fresh_in_parts, rebuild_in_parts, views_part
from adapters.usecases.whatif import ExactSides, reform_of
from adapters.whatif.behaviour import AS_RECORDED, Behaviour
from adapters.whatif.exact import Scope, Side
from adapters.whatif.fast import Timeline, TimelineReplay
from adapters.whatif.partitioned import (
    TimelinePart,
    WhatIfPart,
    exact_partitioned,
    timeline_part,
    timeline_partitioned,
    whatif_part,
)
from domain.policy_book import PolicyBook
from projections.tables import VIEWS

#: Told (events done, events in all) as parts complete.
Progress = Callable[[int, int], None]


def check_part(source: StoreSource, positions: Sequence[int], upto: int) -> PartFindings:
    """On a worker: open the store and the policies, re-decide one part, close the store."""
    app, book = open_source(source)
    try:
        return verify_part(app, book, positions, upto, freeze_gc=True)
    finally:
        app.close()


def whatif_task(source: StoreSource, positions: Sequence[int], upto: int,
                patch: dict[str, Any], patch_source: str, scope: Scope,
                behaviour: Behaviour = AS_RECORDED) -> WhatIfPart:
    """On a worker: open the store and the policies, patch them as the command did (the
    policies' fingerprint proves the same book), replay one part of the exact what-if."""
    app, book = open_source(source)
    try:
        reform = reform_of(book, patch, patch_source, scope.region, scope.year)
        return whatif_part(app, book, reform, scope, positions, freeze_gc=True,
                           behaviour=behaviour)
    finally:
        app.close()


def timeline_task(source: StoreSource, positions: Sequence[int], upto: int,
                  patch: dict[str, Any], patch_source: str, scope: Scope,
                  behaviour: Behaviour = AS_RECORDED) -> TimelinePart:
    """On a worker: one part's person side replayed under the patched policies, members
    named as the store's views name them."""
    app, book = open_source(source)
    try:
        reform = reform_of(book, patch, patch_source, scope.region, scope.year)
        return timeline_part(app, reform, scope, app.personal, positions, freeze_gc=True,
                             behaviour=behaviour)
    finally:
        app.close()


def _cluster_failures() -> tuple[type[BaseException], ...]:
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    return (CommClosedError, KilledWorker, OSError, TimeoutError)


def dask_runner(client: Any, task: Callable[..., Any], source: StoreSource, *args: Any
                ) -> PartRunner:
    """Each part a task on the cluster, `task(source, positions, upto, *args)`; results
    yielded as the tasks complete."""
    from distributed import as_completed

    def run(plan: Plan, parts: Sequence[Part]) -> Iterator[tuple[int, Any]]:
        futures = {client.submit(task, source, part.positions, plan.upto, *args, pure=False): n
                   for n, part in enumerate(parts)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except _cluster_failures() as e:
            raise ClusterUnavailable("cluster_failed", f"the Dask cluster failed under the "
                                     f"replay ({type(e).__name__}: {e})") from None
        finally:
            for future in futures:
                future.cancel()

    return run


def _progress(total: int, progress: Progress | None) -> Callable[[int], None]:
    done = 0

    def advance(events: int) -> None:
        nonlocal done
        done += events
        if progress is not None:
            progress(min(done, total), total)

    if progress is not None:
        progress(0, total)
    return advance


def dask_decisions(client: Any, source: StoreSource, progress: Progress | None = None
                   ) -> DecisionCheck:
    """`audit verify`'s decision re-check as parts on the cluster (ADR 54, ADR 55)."""

    def check(app: Any, book: PolicyBook, upto: int) -> Findings:
        plan = plan_of(app, threads_of(client) * PARTS_PER_THREAD, upto)
        advance = _progress(sum(part.events for part in plan.parts), progress)
        return verify_partitioned(plan, dask_runner(client, check_part, source), advance)

    return check


def dask_exact_sides(client: Any, source: StoreSource, patch: dict[str, Any],
                     patch_source: str, progress: Progress | None = None) -> ExactSides:
    """The exact what-if's two sides from parts on the cluster (ADR 54, ADR 55)."""

    def sides(app: Any, book: PolicyBook, reform: PolicyBook, scope: Scope,
              behaviour: Behaviour) -> tuple[Side, Side]:
        plan = plan_of(app, threads_of(client) * PARTS_PER_THREAD)
        advance = _progress(sum(part.events for part in plan.parts), progress)
        run = dask_runner(client, whatif_task, source, patch, patch_source, scope, behaviour)
        return exact_partitioned(plan, run, advance)

    return sides


def dask_timeline(client: Any, source: StoreSource, patch: dict[str, Any], patch_source: str,
                  progress: Progress | None = None) -> TimelineReplay:
    """The fast engine's re-derivation of coverage from parts on the cluster (ADR 55)."""

    def replay(app: Any, scope: Scope, reform: PolicyBook, personal: Any,
               behaviour: Behaviour) -> tuple[Timeline, Side]:
        plan = plan_of(app, threads_of(client) * PARTS_PER_THREAD)
        advance = _progress(sum(part.events for part in plan.parts), progress)
        run = dask_runner(client, timeline_task, source, patch, patch_source, scope,
                          behaviour)
        return timeline_partitioned(plan, run, advance)

    return replay


def views_task(source: StoreSource, positions: Sequence[int], upto: int,
               names: tuple[str, ...]) -> ViewsPart:
    """On a worker: open the store, fold one part into the named views' rows (against empty
    views in memory), close the store."""
    app, book = open_source(source)
    scratch = open_views(app, book, "memory://")
    try:
        return views_part(app, scratch, positions, names)
    finally:
        scratch.engine.dispose()
        app.close()


def dask_views_rebuild(client: Any, source: StoreSource, names: tuple[str, ...],
                       progress: Progress | None = None
                       ) -> Callable[[Any, Any], tuple[list[dict[str, Any]], int]]:
    """`views rebuild` folded in parts on the cluster, written by the caller (ADR 80): each
    view's status and the number of parts folded."""

    def rebuild(app: Any, views: Any) -> tuple[list[dict[str, Any]], int]:
        plan = plan_of(app, threads_of(client) * PARTS_PER_THREAD)
        advance = _progress(sum(part.events for part in plan.parts), progress)
        return rebuild_in_parts(app, views, list(names), plan,
                                dask_runner(client, views_task, source, names), advance)

    return rebuild


def dask_fresh_views(client: Any, source: StoreSource) -> FreshViews:
    """`audit verify`'s throw-away views built from parts folded on the cluster (ADR 80)."""
    return fresh_in_parts(threads_of(client) * PARTS_PER_THREAD,
                          lambda _app: dask_runner(client, views_task, source, VIEWS))
