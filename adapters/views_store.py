"""The read models' database: the same place as the events, reached through SQLAlchemy."""

from __future__ import annotations

from urllib.parse import urlparse

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from adapters.ledger import Ledger
from adapters.store import StoreError, store_env
from projections.views import LedgerViews


def views_engine(url: str) -> Engine:
    """An engine on the store's own database (sqlite file, or a private in-memory one)."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return create_engine("sqlite://", poolclass=StaticPool,
                             connect_args={"check_same_thread": False})
    if scheme == "sqlite":
        path = store_env(url)["SQLITE_DBNAME"]
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        return engine
    raise StoreError(f"{url}: the read models support sqlite:/// and memory:// stores so far")


def open_views(ledger: Ledger, url: str) -> LedgerViews:
    """The views for a ledger, tables created if missing."""
    return LedgerViews(views_engine(url), ledger.policies, ledger.app.name)
