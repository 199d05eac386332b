"""A household or person answered from views that are current with the log, read through
`sqlite3` alone (ADR 96): the same answer as `views.ask` and `search.with_names` give through
the ledger, without loading SQLAlchemy, the event library or the event classes. When the views
lag the log, or the store is one this reader does not read as the ledger would, it answers
None and the caller asks the ledger, which catches the views up (and says what is wrong)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from domain.identity import parse_person_ref
from projections import lookups
from projections.personal import PLAIN

if TYPE_CHECKING:
    from adapters.stores.sqlite_reads import StoreReads

#: The answers read this way, by the name the command line gives them.
LOOKUPS = {"household": lookups.household, "person": lookups.person}


def with_names(view: dict[str, Any], names_of: Callable[[Iterable[str]], dict[str, str]]
               ) -> dict[str, Any]:
    """A household or person view with the registered names of the persons it shows
    (`names_of(person keys)`): `names` (number -> name) for a household, `name` for a
    person."""
    if "members" in view:
        numbers = {view["head"], *view["members"]}
        keys = {n: parse_person_ref(n).key for n in numbers}
        names = names_of(keys.values())
        return {**view, "names": {n: names.get(k) for n, k in sorted(keys.items())}}
    key = parse_person_ref(view["person"]).key
    return {**view, "name": names_of([key]).get(key)}


def answer(reads: StoreReads, query: str, ref: str, year: int | None,
           as_of: date | None = None, at_position: int | None = None) -> dict[str, Any] | None:
    """The `household` or `person` answer with the names of its persons, as the ledger gives
    it after a catch-up; None when the views lag the log or the store is not read here (the
    ledger answers instead). Raises `Rejected` as the ledger's answer does."""
    from adapters.stores.sqlite_reads import Unreadable

    try:
        if reads.lag() != 0 or not reads.plain():
            return None
        key = parse_person_ref(ref).key
        view = LOOKUPS[query](reads, ref, key, year, as_of, at_position, PLAIN)
        return with_names(lookups.stamped(view, as_of, at_position), reads.registered_names)
    except (sqlite3.Error, Unreadable):
        return None  # the ledger opens the store as it does any other, and says what it finds
