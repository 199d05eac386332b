"""Compressed event states (ADR 52): deflate with a preset dictionary of the ledger's own event
shapes, through the library's compressor hook (`COMPRESSOR_TOPIC`), before any encryption.

A stored state says how it was written by its first byte:

- `{`: the transcoder's JSON as it is, written before compression (older stores);
- `\\x01`: raw deflate (8 KiB window) primed with dictionary 1 (`dictionary_1.DICTIONARY`).

Both are stored schema. A dictionary, once shipped, is never changed: a better one gets the
next number and byte, and every earlier one stays readable.
"""

from __future__ import annotations

import json
import zlib

from eventsourcing.persistence import Compressor

from adapters.stores.compression import dictionary_1

PLAIN = b"{"
DICTIONARY_1 = b"\x01"
WINDOW_BITS = -13  # raw deflate, an 8 KiB window: dictionary 1 fits in it
LEVEL = 6
MEMORY_LEVEL = 8
#: The topic the library resolves to this module's compressor.
COMPRESSOR_TOPIC = "adapters.stores.compression:EventCompressor"


class StateFormatError(ValueError):
    """A stored state in none of the formats this ledger wrote."""


class EventCompressor(Compressor):
    """States compressed with dictionary 1; states of older stores read as they are."""

    def __init__(self) -> None:
        dictionary = dictionary_1.DICTIONARY
        self._dictionary = dictionary
        # Priming deflate with the dictionary costs more than copying a primed one.
        self._primed = zlib.compressobj(LEVEL, zlib.DEFLATED, WINDOW_BITS, MEMORY_LEVEL,
                                        zlib.Z_DEFAULT_STRATEGY, dictionary)

    def compress(self, data: bytes) -> bytes:
        deflate = self._primed.copy()
        return DICTIONARY_1 + deflate.compress(data) + deflate.flush()

    def decompress(self, data: bytes) -> bytes:
        tag = data[:1]
        if tag == PLAIN:
            return data
        if tag != DICTIONARY_1:
            raise StateFormatError(f"a stored state begins with byte {data[:1].hex() or 'none'}"
                                   ", which is no format of this ledger")
        inflate = zlib.decompressobj(WINDOW_BITS, self._dictionary)
        try:
            plain = inflate.decompress(data[1:])
        except zlib.error as e:
            raise StateFormatError(f"a compressed stored state cannot be inflated: {e}") from e
        if not inflate.eof or inflate.unused_data:
            raise StateFormatError("a compressed stored state is truncated or has bytes after "
                                   "its end")
        return plain


def is_plain_state(state: bytes) -> bool:
    """Whether a stored state is readable without a cipher: JSON, as it is or compressed."""
    try:
        json.loads(EventCompressor().decompress(state))
    except ValueError:  # StateFormatError, and JSON's own errors, are ValueErrors
        return False
    return True
