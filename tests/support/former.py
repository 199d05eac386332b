"""The ledger as it wrote stores before compact events (ADRs 52 and 53): states stored as
the transcoder's JSON, chain rows in format "1" (naming their event's originator id and
version); and as it wrote them between ADRs 52 and 98: states deflated with dictionary 1.
Tests write such stores and check that the current ledger opens, extends, queries and
verifies them."""

from __future__ import annotations

import zlib

from adapters.stores.compression import EventCompressor, dictionary_1
from adapters.stores.events import LedgerApplication


class FormerLedgerApplication(LedgerApplication):
    """The event store as the ledger wrote it before ADRs 52 and 53."""

    compressor_topic = ""
    chain_format = "1"


class DeflateCompressor(EventCompressor):
    """States as the ledger compressed them under ADR 52, before ADR 98: format byte 1, raw
    deflate (an 8 KiB window, level 6) primed with dictionary 1."""

    def compress(self, data: bytes) -> bytes:
        deflate = zlib.compressobj(6, zlib.DEFLATED, -13, 8, zlib.Z_DEFAULT_STRATEGY,
                                   dictionary_1.DICTIONARY)
        return b"\x01" + deflate.compress(data) + deflate.flush()


class DeflateLedgerApplication(LedgerApplication):
    """The event store as the ledger wrote it between ADRs 52 and 98 (deflated states)."""

    compressor_topic = "tests.support.former:DeflateCompressor"
