"""Finding households and persons (issue 16): the views' search (`projections.search`), the
names read from the persons' own streams (the views hold none), a name filter, and a page."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from adapters.usecases import current_views
from projections import search as views_search
from projections.views import LedgerViews, catch_up

#: What each search lists, and the field its rows name a person by.
SEARCHES = {"households": (views_search.households, "head_name"),
            "persons": (views_search.persons, "name")}


def names_of(store: Any, keys: Iterable[str]) -> dict[str, str]:
    """Each person key's registered name, read from the person's stream (one query per 500
    persons where the store offers it)."""
    ids = {store.ids.person(k): k for k in set(keys)}
    if not ids:
        return {}
    found = store.aggregates(ids)
    if found is None:  # a store without SQL
        found = {i: store.get_or_none(i) for i in ids}
    return {ids[i]: p.name for i, p in found.items() if p is not None and i in ids}


def search(store: Any, views: LedgerViews, what: str, name: str | None = None,
           limit: int = 20, offset: int = 0, refresh: Callable[[], Any] | None = None,
           **filters: Any) -> dict[str, Any]:
    """`{"total", "offset", "limit", "rows"}`: the households or persons matching the filters
    (`projections.search`) and, with `name`, whose name (a household's head's) contains it;
    the views caught up with the log first. Raises `InvalidInput` for a bad filter."""
    query, field = SEARCHES[what]
    (refresh or (lambda: catch_up(store, views)))()
    if name:
        _, found = query(views.engine, views.personal, limit=None, offset=0, **filters)
        rows = list(found)
        names = names_of(store, [r["_key"] for r in rows])
        wanted = name.casefold()
        rows = [r for r in rows if wanted in names.get(r["_key"], "").casefold()]
        total, page = len(rows), rows[offset:offset + limit]
    else:
        total, found = query(views.engine, views.personal, limit=limit, offset=offset,
                             **filters)
        page = list(found)
        names = names_of(store, [r["_key"] for r in page])
    for row in page:
        key = row.pop("_key")
        row[field] = names.get(key)
    return {"total": total, "offset": offset, "limit": limit, "rows": page}


def with_names(store: Any, view: dict[str, Any]) -> dict[str, Any]:
    """A household or person view with the registered names of the persons it shows, read
    from their streams (`current_views.with_names`)."""
    return current_views.with_names(view, lambda keys: names_of(store, keys))
