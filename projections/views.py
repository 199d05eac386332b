"""The read models, fed from the application's notification log.

`LedgerViews` is the materialised view (an eventsourcing `TrackingRecorder` over SQL tables
written through SQLAlchemy); `ViewProjection` is the `Projection` whose handlers fold decoded
domain events into in-memory row buffers; `catch_up` is the loop that reads the log after the
tracked position (SQLite has no subscriptions), folds a batch and writes the batch's rows and the
new tracked positions in ONE database transaction.

Atomicity. Each batch is one `engine.begin()` transaction that first moves every view's tracking
row from the position it was read at to the batch's last position (a compare-and-set: `UPDATE
... WHERE view = ? AND position = ?`, which must touch exactly one row), then writes the rows.
Any failure rolls back both, so the rows and the position can never disagree; a concurrent
catch-up that got there first makes the compare-and-set fail, the batch is rolled back and the
loop starts again from the positions now recorded. The in-memory state of a catch-up lives in
its `ViewProjection` and is discarded with it whenever a batch fails.

Views and their positions. Each view (`tables.VIEWS`) has its own tracking row, so one view can
be rebuilt alone. A catch-up reads from the lowest position and every view takes only the
events after its own position. State that must be known before the batch is loaded from the
tables: immutable facts (who a person uuid is, a household's head, year and region) from any
view that has them; the person-year state from `person_year_version` at the catch-up's starting
position (the table is temporal, so this is exact whichever view is behind); a household's row
and members from `household_pool`/`household_member`, to which only events after that view's
own position are applied.

Persons. Every person column holds `personal.pseudonym(person key)` and the registry's number
and birth date are `personal.seal`ed (`projections.personal`, ADR 21); the projection works in
pseudonyms throughout. With the default `PLAIN` codec the pseudonym is the person key itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from eventsourcing.persistence import EventSourcingError, Tracking
from eventsourcing.utils import get_topic
from sqlalchemy.exc import SQLAlchemyError

from projections import tables as t
from projections.collector import PerBatch
from projections.projection import TOPICS, ViewProjection
from projections.rows import Batch
from projections.store import LedgerViews, ViewConflict, ViewsDamaged

#: What an event the views cannot apply raises (a forged or damaged event: a second row for a
#: claim id, a member of no household, a field of the wrong type or one that does not decode).
UNAPPLIABLE = (SQLAlchemyError, KeyError, TypeError, ValueError, AttributeError,
               EventSourcingError)

__all__ = ["TOPICS", "Alongside", "BatchFolder", "Folder", "LedgerViews", "NotificationLog",
           "ViewConflict", "ViewsDamaged", "alongside", "catch_up", "fold_part", "rebuild",
           "status", "topic_filter", "write_parts"]

MAX_CONFLICTS = 10
#: A catch-up further behind than this folds this many events a batch until it is within it
#: (ADR 116): a first query or audit after a large ingest pays a rebuild's commits, not a
#: catch-up's fifty times as many; the last stretch keeps the caller's short batches.
FAR_STEP = 20_000


class NotificationLog(Protocol):
    """What the views need of an eventsourcing Application (duck-typed)."""

    name: str
    recorder: Any
    mapper: Any


def catch_up(app: NotificationLog, views: LedgerViews, batch_size: int = 1000,
             stop: int | None = None, freeze_gc: bool = False,
             far_step: int | None = FAR_STEP) -> int:
    """Bring every view up to the log's head (or to `stop`); returns the position reached by
    all views. Each batch is one transaction (rows and tracked positions together); if another
    process advanced the views meanwhile, the batch is rolled back and the catch-up resumes
    from the positions now recorded. While more than `far_step` positions behind, a batch
    holds `far_step` events (ADR 116); `None` keeps `batch_size` throughout.

    `freeze_gc` runs the cyclic collector once per batch (`projections.collector.PerBatch`,
    ADR 111): for one-off processes (a CLI rebuild, a Dask task), not a long-lived server."""
    if batch_size < 1 or (far_step is not None and far_step < 1):
        raise ValueError("batch_size and far_step must be at least 1")
    with PerBatch(freeze_gc) as collector:
        return _catch_up_retrying(app, views, batch_size, far_step, stop, collector)


def _catch_up_retrying(app: NotificationLog, views: LedgerViews, batch_size: int,
                       far_step: int | None, stop: int | None, collector: PerBatch) -> int:
    for _ in range(MAX_CONFLICTS):
        try:
            return _catch_up(app, views, batch_size, far_step, stop, collector)
        except ViewConflict:
            continue
        except ViewsDamaged:
            if batch_size > 1 or far_step is not None:
                # find the event: one at a time, the good ones committed
                return _catch_up_retrying(app, views, 1, None, stop, collector)
            raise
    raise ViewConflict("the views kept being advanced by another process")


def _catch_up(app: NotificationLog, views: LedgerViews, batch_size: int, far_step: int | None,
              stop: int | None, collector: PerBatch) -> int:
    positions = views.positions()
    head = app.recorder.max_notification_id() or 0
    if stop is not None:
        head = min(head, stop)
    start = min(positions.values())
    if start >= head:
        return start
    projection = ViewProjection(views, positions)
    name = app.name
    to_domain_event = app.mapper.to_domain_event
    while start < head:
        size = (max(batch_size, far_step) if far_step is not None and head - start > far_step
                else batch_size)
        notifications = app.recorder.select_notifications(
            start + 1, size, stop=head, topics=TOPICS)
        end = notifications[-1].id if len(notifications) >= size else head
        try:
            events = [(to_domain_event(n), Tracking(name, n.id)) for n in notifications]
            _fold_batch(views, projection, events, start, end, name)
        except UNAPPLIABLE as e:  # named by its first event: alone, when batches are of one
            raise ViewsDamaged(notifications[0].id if notifications else start + 1, e) from e
        start = end
        collector.after_batch()
    return start


def topic_filter(topics: Iterable[str]) -> Callable[[type], bool]:
    """Whether events of a class are among `topics` (by its topic), remembered per class."""
    wanted_topics = frozenset(topics)
    known: dict[type, bool] = {}

    def wanted(kind: type) -> bool:
        answer = known.get(kind)
        if answer is None:
            answer = known[kind] = get_topic(kind) in wanted_topics
        return answer

    return wanted


#: Whether the views take events of this class (their topic is one of `TOPICS`).
_folded = topic_filter(TOPICS)


def _fold_batch(views: LedgerViews, projection: ViewProjection,
                events: list[tuple[Any, Tracking]], start: int, end: int, name: str) -> None:
    """One batch (events after `start`, the views then at `end`): its rows and the tracked
    positions written in one transaction."""
    with views.engine.begin() as conn:
        projection.prefetch(conn, events, start)
        projection.fold(events)
        views.write(conn, projection.batch, projection.advance(end), Tracking(name, end))
    projection.advanced(end)


class BatchFolder:
    """Events handed over one by one in log order, decoded by someone else (one read of the
    log feeding several folds: an audit's decisions and views, ADR 109; a rebuild's views and
    columnar store, ADR 115), folded a batch at a time: those `wanted` only, a batch written
    every `batch_size` of them and at `finish`. A batch that cannot be folded stops it:
    `damaged` holds why and it takes nothing more (the caller then catches up from the log,
    which names the event). Subclasses say what a pending item is and how a batch is
    written (`write`, raising one of `UNAPPLIABLE`)."""

    wanted: Callable[[type], bool]
    #: What else a write may raise that stops the fold as `UNAPPLIABLE` does.
    stops_on: tuple[type[BaseException], ...] = ()

    def __init__(self, start: int, batch_size: int) -> None:
        self.start = self.last = start
        self.batch_size = batch_size
        self.pending: list[tuple[Any, Any]] = []
        self.damaged: ViewsDamaged | None = None

    def item(self, event: Any, position: int) -> tuple[Any, Any]:
        return event, position

    def first_position(self) -> int:
        return self.pending[0][1] if self.pending else self.start + 1

    def write(self, end: int) -> None:
        raise NotImplementedError

    def take(self, position: int, event: Any) -> None:
        self.last = position
        if self.damaged is not None or position <= self.start:
            return
        if self.wanted(type(event)):
            self.pending.append(self.item(event, position))
            if len(self.pending) >= self.batch_size:
                self._flush(position)

    def finish(self, end: int) -> None:
        """The fold brought to `end` (the position the log was read to)."""
        if self.damaged is None and end > self.start:
            self._flush(end)

    def _flush(self, end: int) -> None:
        try:
            self.write(end)
        except (*UNAPPLIABLE, *self.stops_on) as e:
            self.damaged = ViewsDamaged(self.first_position(), e)
        self.start, self.pending = end, []


class Folder(BatchFolder):
    """The views fed by a `BatchFolder`, folded into `views` as `catch_up` folds them: the
    views' topics only, a batch a transaction."""

    wanted = staticmethod(_folded)

    def __init__(self, views: LedgerViews, application: str, batch_size: int = 1000) -> None:
        positions = views.positions()
        super().__init__(min(positions.values()), batch_size)
        self.views, self.name = views, application
        self.projection = ViewProjection(views, positions)

    def item(self, event: Any, position: int) -> tuple[Any, Any]:
        return event, Tracking(self.name, position)

    def first_position(self) -> int:
        return self.pending[0][1].notification_id if self.pending else self.start + 1

    def write(self, end: int) -> None:
        _fold_batch(self.views, self.projection, self.pending, self.start, end, self.name)


class Alongside(Folder):
    """The live views caught up from a read of the log made for something else (an audit's
    decisions, ADR 117), far steps only: it takes the events up to `upto - far_step`, a batch
    of `far_step` a transaction, and leaves the last stretch to the caller's `catch_up`, in
    its short batches (ADR 116). It only saves reading the log twice; it never reports: when
    another process advances the views meanwhile (`ViewConflict`) or an event cannot be
    folded, it takes nothing more, and the caller's `catch_up` goes on from wherever the
    views then stand and names the event."""

    #: Another process advancing the views stops it as an unfoldable event does.
    stops_on = (ViewConflict,)

    def __init__(self, views: LedgerViews, application: str, upto: int,
                 far_step: int = FAR_STEP) -> None:
        super().__init__(views, application, far_step)
        self.cutoff = upto - far_step

    def take(self, position: int, event: Any) -> None:
        if position <= self.cutoff:
            super().take(position, event)

    def finish(self, end: int) -> None:
        super().finish(min(end, self.cutoff))


def alongside(views: LedgerViews, application: str, upto: int, far_step: int = FAR_STEP
              ) -> Alongside | None:
    """An `Alongside` folder for views more than `far_step` behind `upto`; None if they are
    nearer (the caller's catch-up then reads the little that is left)."""
    if upto - min(views.positions().values()) <= far_step:
        return None
    return Alongside(views, application, upto, far_step)


def rebuild(app: NotificationLog, views: LedgerViews, names: Iterable[str] | None = None,
            batch_size: int = 25_000, freeze_gc: bool = False) -> int:
    """Drop and recreate the named views (all by default), reset their positions and catch
    up. Views not named keep their rows and only take events past their own position.
    Batches are larger than a catch-up's by default: on a big log the commits (each writing
    the pages its rows touched) are a large share of the time (25,000 events a batch: a
    region's rebuild about a tenth to a fifth faster than at 5,000, ADR 106)."""
    views.reset(list(t.VIEWS if names is None else names))
    return catch_up(app, views, batch_size, freeze_gc=freeze_gc)


def status(app: NotificationLog, views: LedgerViews) -> list[dict[str, Any]]:
    """Per view: the tracked position, the log's head and how far behind the view is."""
    head = app.recorder.max_notification_id() or 0
    return [{"view": v, "position": p, "head": head, "lag": max(0, head - p)}
            for v, p in views.positions().items()]


# --- a rebuild in parts (ADR 80) -------------------------------------------------------------


def fold_part(views: LedgerViews, application: str, events: Iterable[tuple[Any, int]],
              names: Iterable[str]) -> Batch:
    """One part's events (decoded, with their positions, in log order) folded into the rows
    of the named views, from empty views: the rows a rebuild of those views writes for the
    part's streams. `views` supply the person codec and the policy lookups; their tables are
    only asked for rows a part never needs (an empty in-memory database will do)."""
    rebuilt = set(names)
    unknown = rebuilt - set(t.VIEWS)
    if unknown:
        raise ValueError(f"unknown view(s) {', '.join(sorted(unknown))}")
    never = 2**62  # the views not rebuilt take no event
    projection = ViewProjection(views, {v: 0 if v in rebuilt else never for v in t.VIEWS})
    tracked = [(event, Tracking(application, position)) for event, position in events
               if _folded(type(event))]  # the views' topics only, as a catch-up selects them
    try:
        with views.engine.begin() as conn:
            projection.prefetch(conn, tracked, 0)
            projection.fold(tracked)
    except UNAPPLIABLE as e:
        raise ViewsDamaged(tracked[0][1].notification_id if tracked else 1, e) from e
    return projection.batch


def write_parts(app: NotificationLog, views: LedgerViews, names: Iterable[str],
                batches: Iterable[Batch], upto: int) -> None:
    """The named views dropped and written again from the batches of every part, up to
    `upto`, the rows in ONE transaction with the positions: they never disagree. A rebuild
    stopped between the drop and the write leaves the views empty at position 0, which a
    catch-up fills again."""
    names = list(names)
    views.reset(names)
    tracking = Tracking(app.name, upto)
    with views.engine.begin() as conn:
        advancing: dict[str, int] = {v: 0 for v in names}
        for batch in batches:
            views.write(conn, batch, advancing, tracking)
            advancing = {}  # the positions move once, with the first batch
        if advancing:  # no part at all: an empty log up to `upto`
            views.write(conn, Batch(), advancing, tracking)
