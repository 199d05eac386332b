"""Stored event states as tests read and forge them: the JSON inside a compressed state
(ADR 52), and JSON packed the way the ledger stores it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from adapters.stores.compression import EventCompressor, is_plain_state

_compressor = EventCompressor()


def plain(state: bytes) -> bytes:
    """The transcoder's JSON of a stored state (compressed or as older stores hold it)."""
    return _compressor.decompress(bytes(state))


def packed(json_bytes: bytes) -> bytes:
    """JSON stored as the ledger stores a state."""
    return _compressor.compress(json_bytes)


def readable(state: bytes) -> bytes:
    """What anyone with the database can read of a state: its JSON unless it is encrypted."""
    return plain(state) if is_plain_state(bytes(state)) else b""


def forge_claim(url: str, change: Callable[[dict[str, Any]], Any]) -> int:
    """Rewrite the first settled claim's state behind the ledger's back (`change` edits its
    fields); returns its position."""
    from tests.support.stores import raw_store  # which reads states with this module

    with raw_store(url) as con:
        position, state = con.one("SELECT {pos}, state FROM {events} WHERE topic LIKE "
                                  "'%OutpatientClaimSettled' ORDER BY {pos} LIMIT 1")
        data = json.loads(plain(state))
        change(data)
        con.execute("UPDATE {events} SET state=? WHERE {pos}=?",
                    (packed(json.dumps(data).encode()), position))
    return position


def forged_county(url: str, book: Any, key: bytes,
                  change: Callable[[dict[str, Any]], Any]) -> int:
    """A store holding a family and two settled claims, its first claim then forged by
    `change` (`forge_claim`); returns the forged event's position."""
    from adapters.composition import open_ledger
    from tests.support.builders import HEAD, WIFE, claim, family

    ledger = open_ledger(url, book, audit_key=key)
    lines = [json.dumps(c, ensure_ascii=False)
             for c in [*family(), claim("C-1", HEAD, "9.00"), claim("C-2", WIFE, "19.00")]]
    done = list(ledger.execute_lines(lines))
    ledger.app.close()
    if any(r["status"] != "ok" for r in done):
        raise ValueError(f"the county was not recorded: {done}")
    return forge_claim(url, change)
