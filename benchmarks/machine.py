"""What machine a benchmark ran on, printed beside its figures."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib.metadata import version


def machine(*packages: str) -> list[tuple[str, str]]:
    """Platform, CPUs, Python, SQLite and the versions of the named packages."""
    return [
        ("platform", platform.platform()),
        ("processor", platform.processor() or platform.machine()),
        ("cpu count", str(os.cpu_count())),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("sqlite", sqlite3.sqlite_version),
        *((name, version(name)) for name in packages),
    ]
