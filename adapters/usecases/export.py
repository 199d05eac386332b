"""The recorded history written back as a command file that rebuilds the same ledger."""

from __future__ import annotations

import json
from typing import IO, Any

from adapters.application.replay import CommandReader, read_log


def export_commands(store: Any, sink: IO[str], upto: int | None = None) -> int:
    """Write every recorded command (up to a log position) as a JSON line; returns how many."""
    n = 0
    for rc in CommandReader().group(read_log(store, upto=upto)):
        if rc.command:
            sink.write(json.dumps(rc.command, ensure_ascii=False) + "\n")
            n += 1
    return n
