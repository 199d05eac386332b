"""Tamper evidence: each stream's events chained by a keyed hash, checked by `verify_chain`.

Every stored event gets one row in `event_chain`, written in the same transaction as the event:

    link     = HMAC-SHA256(key, the stream's previous link || canonical(stored event))
    log_link = HMAC-SHA256(key, the log's previous log link || link || notification id)

Both chains start from 32 zero bytes. The stream links catch an event edited, swapped, inserted
or deleted inside its stream; the log links, in notification-id order across the whole log,
catch a deleted last event of a stream or a whole forged stream. The key comes from
BENEFITPOOL_AUDIT_KEY and is never stored: `event_chain_meta` holds only its fingerprint.

The same chain, in the same bytes, is kept on SQLite (`ChainedSQLiteRecorder`) and on
PostgreSQL (`ChainedPostgresRecorder`); both recorders share `ChainWriter`, and
`verify_chain` reads either store through a `Reader`. Originator ids enter the links as 32
hex digits on both. See docs/adr/0016-tamper-evident-event-chain.md and
docs/adr/0019-postgresql-store.md.

The modules: `keys` (the key, its fingerprint, `canonical`, `Mac`), `errors`, `statements`
(the tables and the SQL of both stores), `readers`, `writer` (`ChainWriter` and the adoption
of older events), `sqlite` and `postgres` (the recorders), `recorders` (`chained_recorder`),
`report` (`Seal`, `ChainProblem`, `ChainReport`), and `verify` with its two walks, `log_walk`
and `stream_walk`.
"""

from typing import Any

from adapters.stores.chain.errors import AuditKeyMismatch, ChainError
from adapters.stores.chain.keys import (
    AUDIT_KEY_ENV,
    DEVELOPMENT_KEY,
    GENESIS,
    MIN_KEY_LENGTH,
    Mac,
    audit_key,
    canonical,
    is_keyed,
    key_fingerprint,
)
from adapters.stores.chain.recorders import chained_recorder
from adapters.stores.chain.report import ChainProblem, ChainReport, Seal
from adapters.stores.chain.sqlite import ChainedSQLiteRecorder
from adapters.stores.chain.statements import CHAIN_FORMAT, CHAIN_TABLE, META_TABLE
from adapters.stores.chain.verify import verify_chain
from adapters.stores.chain.writer import FIRST_VERSION

__all__ = [
    "AUDIT_KEY_ENV",
    "CHAIN_FORMAT",
    "CHAIN_TABLE",
    "DEVELOPMENT_KEY",
    "FIRST_VERSION",
    "GENESIS",
    "META_TABLE",
    "MIN_KEY_LENGTH",
    "AuditKeyMismatch",
    "ChainError",
    "ChainProblem",
    "ChainReport",
    "ChainedPostgresRecorder",
    "ChainedSQLiteRecorder",
    "Mac",
    "Seal",
    "audit_key",
    "canonical",
    "chained_recorder",
    "is_keyed",
    "key_fingerprint",
    "verify_chain",
]


def __getattr__(name: str) -> Any:
    """`ChainedPostgresRecorder`, its module (and the PostgreSQL driver) loaded when asked."""
    if name == "ChainedPostgresRecorder":
        from adapters.stores.chain.postgres import ChainedPostgresRecorder

        return ChainedPostgresRecorder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
