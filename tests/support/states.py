"""Stored event states as tests read and forge them: the JSON inside a compressed state
(ADR 52), and JSON packed the way the ledger stores it."""

from __future__ import annotations

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
