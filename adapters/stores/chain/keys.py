"""The audit key and the keyed hash of the links: the key, its fingerprint, an event's
canonical bytes and `Mac`."""

from __future__ import annotations

import hashlib
import hmac
import struct

from adapters.stores.chain.errors import ChainError

AUDIT_KEY_ENV = "BENEFITPOOL_AUDIT_KEY"
# Public on purpose: a chain written with it proves accidental damage only, never tampering.
DEVELOPMENT_KEY = b"benefitpool public development audit key; not a secret"
MIN_KEY_LENGTH = 16
GENESIS = bytes(32)
HEADER = struct.Struct(">qIII")
POSITION = struct.Struct(">q")


def audit_key(value: str = "") -> bytes:
    """The key a BENEFITPOOL_AUDIT_KEY setting gives (its UTF-8 bytes), or the public
    development key when it is empty."""
    if not value:
        return DEVELOPMENT_KEY
    key = value.encode("utf-8")
    if len(key) < MIN_KEY_LENGTH:
        raise ChainError(f"{AUDIT_KEY_ENV} is {len(key)} bytes long; an audit key needs at "
                         f"least {MIN_KEY_LENGTH}")
    return key


def is_keyed(key: bytes) -> bool:
    """False for the public development key: such a chain detects accidents, not tampering."""
    return not hmac.compare_digest(key, DEVELOPMENT_KEY)


def key_fingerprint(key: bytes) -> str:
    """16 hex digits that identify a key without revealing it."""
    return hmac.new(key, b"benefitpool key fingerprint", hashlib.sha256).hexdigest()[:16]


def canonical(originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    """A stored event as bytes, unambiguously: the lengths first, then id, topic and state."""
    oid = originator_id.encode("utf-8")
    top = topic.encode("utf-8")
    return HEADER.pack(version, len(oid), len(top), len(state)) + oid + top + state


class Mac:
    """HMAC-SHA256 under one key (RFC 2104), for stream links and log links.

    Built from the two padded-key SHA-256 states, copied for each message: the same bytes as
    `hmac.new(key, message, "sha256").digest()`, in about 60% of its time for these short
    messages (the ingest computes two per event).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:  # SHA-256's block size
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def link(self, previous: bytes, originator_id: str, version: int, topic: str,
             state: bytes) -> bytes:
        return self.digest(previous + canonical(originator_id, version, topic, state))

    def log_link(self, previous: bytes, link: bytes, position: int) -> bytes:
        return self.digest(previous + link + POSITION.pack(position))
