"""The columnar claims store (ADR 50): where it lives, how it is opened, kept up and read.

Where: for `sqlite:///PATH` a folder beside the file, `PATH.columnar/`; for `memory://` in
memory; for PostgreSQL only where the `BENEFITPOOL_COLUMNAR` setting names a folder (which also
overrides the place for SQLite; `off` turns the store off). Without one the fast what-if
reads the SQL views, as before.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from adapters.stores.columnar.store import FILE, ColumnarBusy, ColumnarStore
from adapters.stores.urls import store_env

__all__ = ["OFF", "ColumnarBusy", "ColumnarStore", "columnar_file"]

OFF = "off"
IN_MEMORY = Path(":memory:")


def columnar_file(url: str, setting: str | None) -> Path | None:
    """The DuckDB file of the store at `url` (IN_MEMORY for a store in memory), or None when
    it has none."""
    if setting == OFF:
        return None
    if setting:
        return Path(setting) / FILE
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return IN_MEMORY
    if scheme == "sqlite":
        path = store_env(url)["SQLITE_DBNAME"]
        if path in ("", ":memory:") or path.startswith("file::memory:"):
            return IN_MEMORY
        return Path(f"{Path(path).resolve()}.columnar") / FILE
    return None
