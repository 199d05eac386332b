"""The columnar store kept up with the log: read after its position, folded, written.

Like the SQL views' catch-up (`projections.views`), it reads the notifications after the
store's position (only the topics it folds), folds a batch into rows
(`projections.claim_columns`) and writes the rows with the batch's last position in one
transaction. Before that it checks that the store belongs to this log: the event at its
position must be the one it recorded there (the anchor); a store ahead of the log or anchored
on another event is emptied and rebuilt, with a note.
"""

from __future__ import annotations

import hashlib
from typing import Any

from adapters.stores.columnar.store import ColumnarStore
from projections.claim_columns import TOPICS, ClaimColumnsFold
from projections.store import ViewsDamaged
from projections.views import UNAPPLIABLE, BatchFolder, NotificationLog, topic_filter

BATCH = 20_000


def anchor_at(app: NotificationLog, position: int) -> str:
    """What identifies the log's event at `position`: its stream, version and stored bytes."""
    if position <= 0:
        return ""
    found = app.recorder.select_notifications(position, 1, stop=position)
    if not found:
        return "none"
    n = found[0]
    return f"{n.originator_id}/{n.originator_version}/{hashlib.sha256(n.state).hexdigest()[:32]}"


def check(app: NotificationLog, store: ColumnarStore) -> None:
    """Empty the store (noted) when it does not continue this log."""
    position = store.position
    head = app.recorder.max_notification_id() or 0
    if position > head:
        store.reset(f"it is at position {position}, past the log's head {head}")
    elif position and anchor_at(app, position) != store.anchor:
        store.reset(f"its event at position {position} is not this log's")


def catch_up(app: NotificationLog, store: ColumnarStore, stop: int | None = None,
             personal: Any = None, batch_size: int = BATCH) -> int:
    """Bring the store up to the log's head (or `stop`); returns the position reached. An
    event that cannot be folded stops it before the event's batch (`ViewsDamaged`)."""
    check(app, store)
    start = store.position
    head = app.recorder.max_notification_id() or 0
    if stop is not None:
        head = min(head, stop)
    if start >= head:
        return start
    fold = ClaimColumnsFold(personal.pseudonym if personal is not None else str)
    to_domain_event = app.mapper.to_domain_event
    while start < head:
        notifications = app.recorder.select_notifications(
            start + 1, batch_size, stop=head, topics=TOPICS)
        end = notifications[-1].id if len(notifications) >= batch_size else head
        try:
            events = [(to_domain_event(n), n.id) for n in notifications]
            _fold(store, fold, events)
        except UNAPPLIABLE as e:
            raise ViewsDamaged(notifications[0].id if notifications else start + 1, e) from e
        store.write(fold.take(), end, anchor_at(app, end))
        start = end
    return start


def _fold(store: ColumnarStore, fold: ClaimColumnsFold, events: list[tuple[Any, int]]) -> None:
    """One batch's events folded, the person-years they change and the claims they settle
    that the store holds already loaded first."""
    decoded = [e for e, _ in events]
    fold.preload(store.person_years_for(fold.needs(decoded)),
                 store.claims_held(fold.settling(decoded)))
    for event, position in events:
        fold.apply(event, position)


class Folder(BatchFolder):
    """This store fed by a `BatchFolder` (a rebuild reads the log once for the SQL views and
    this store, ADR 115), folded as `catch_up` folds it: this store's topics only, a batch a
    write with its last position and anchor; a batch that cannot be folded is not written."""

    wanted = staticmethod(topic_filter(TOPICS))

    def __init__(self, app: NotificationLog, store: ColumnarStore, personal: Any = None,
                 batch_size: int = BATCH) -> None:
        check(app, store)
        super().__init__(store.position, batch_size)
        self.app, self.store = app, store
        self.fold = ClaimColumnsFold(personal.pseudonym if personal is not None else str)

    def write(self, end: int) -> None:
        _fold(self.store, self.fold, self.pending)
        self.store.write(self.fold.take(), end, anchor_at(self.app, end))
