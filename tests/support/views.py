"""Every row of a store's read models, to compare two builds of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from projections.tables import VIEW_TABLES


def view_rows(views: Any) -> dict[str, list[tuple]]:
    """Each SQL view table's rows, sorted."""
    with views.engine.connect() as conn:
        return {table.name: sorted(tuple(r) for r in conn.execute(select(table)))
                for tables in VIEW_TABLES.values() for table in tables}


def columnar_tables(store: Any) -> dict[str, list[tuple]]:
    """Each table of a columnar store (`adapters.stores.columnar`) with its rows, sorted,
    its meta (position and anchor) included."""
    from adapters.stores.columnar.store import SCHEMAS

    return {name: sorted(store.con.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            for name in (*SCHEMAS, "meta")}
