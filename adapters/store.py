"""Store selection: a database URL becomes the eventsourcing library's environment."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from domain.errors import LedgerError

DEFAULT_DB = "sqlite:///benefitpool.db"


class StoreError(LedgerError):
    """The database URL cannot be used."""


def database_url(explicit: str | None = None) -> str:
    """`--db` wins, then BENEFITPOOL_DB, then the SQLite file in the current folder."""
    return explicit or os.environ.get("BENEFITPOOL_DB") or DEFAULT_DB


def store_env(url: str) -> dict[str, str]:
    """The library settings for a URL: sqlite:///FILE, memory://, postgresql://…"""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if url.startswith("sqlite:///") and path.startswith("/") and not url.startswith(
                "sqlite:////"):
            path = path[1:]
        if not path:
            raise StoreError(f"{url}: a SQLite URL needs a file, e.g. sqlite:///benefitpool.db")
        if path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"{url}: the folder {parent} does not exist")
            path = str(Path(path).expanduser())
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "30"}
    if parsed.scheme == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if parsed.scheme in ("postgresql", "postgres"):
        query = parse_qs(parsed.query)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
    raise StoreError(f"{url}: unsupported database URL (use sqlite:///FILE, memory:// or "
                     "postgresql://USER@HOST:PORT/DB)")
