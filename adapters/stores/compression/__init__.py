"""Compressed event states (ADR 52): deflate with a preset dictionary of the ledger's own event
shapes, through the library's compressor hook (`COMPRESSOR_TOPIC`), before any encryption.

A stored state says how it was written by its first byte:

- `{`: the transcoder's JSON as it is, written before compression (older stores);
- `\\x01`: raw deflate (8 KiB window) primed with dictionary 1 (`dictionary_1.DICTIONARY`);
- `\\x02`: a Zstandard frame without its magic number, level 3, its content size written,
  primed with dictionary 1 as raw content (ADR 98; what new states are written as).

All three are stored schema. A dictionary, once shipped, is never changed: a better one gets the
next number and byte, and every earlier one stays readable.

Reading a state (`inflate`) needs no event library: a query that reads the store through
`sqlite3` alone uses it (ADR 96). The library's compressor, `EventCompressor`
(`compression.compressor`), is loaded when it is first asked for.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from adapters.stores.compression import dictionary_1

PLAIN = b"{"
DICTIONARY_1 = b"\x01"
ZSTD_DICTIONARY_1 = b"\x02"
WINDOW_BITS = -13  # raw deflate, an 8 KiB window: dictionary 1 fits in it
LEVEL = 6
MEMORY_LEVEL = 8
ZSTD_LEVEL = 3
#: The topic the library resolves to this module's compressor.
COMPRESSOR_TOPIC = "adapters.stores.compression:EventCompressor"


class StateFormatError(ValueError):
    """A stored state in none of the formats this ledger wrote."""


def zstd_dictionary(compress: bool = False) -> Any:
    """Dictionary 1 as Zstandard's raw content (prepared for compressing, if asked)."""
    import zstandard

    primed = zstandard.ZstdCompressionDict(dictionary_1.DICTIONARY,
                                           dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    if compress:
        primed.precompute_compress(level=ZSTD_LEVEL)
    return primed


def zstd_decompressor(primed: Any = None) -> Any:
    """A reader of format 2's frames (one per thread: Zstandard's are not shared)."""
    import zstandard

    return zstandard.ZstdDecompressor(dict_data=primed or zstd_dictionary(),
                                      format=zstandard.FORMAT_ZSTD1_MAGICLESS)


def inflate(data: bytes, unzstd: Any = None) -> bytes:
    """A stored state's JSON, whichever format of this ledger wrote it (`StateFormatError`
    for any other bytes); `unzstd`: the caller's `zstd_decompressor()`, else one made now."""
    tag = data[:1]
    if tag == ZSTD_DICTIONARY_1:
        import zstandard

        return _whole(data, (unzstd or zstd_decompressor()).decompressobj(),
                      zstandard.ZstdError, "read")
    if tag == PLAIN:
        return data
    if tag != DICTIONARY_1:
        raise StateFormatError(f"a stored state begins with byte {data[:1].hex() or 'none'}"
                               ", which is no format of this ledger")
    return _whole(data, zlib.decompressobj(WINDOW_BITS, dictionary_1.DICTIONARY), zlib.error,
                  "inflated")


def _whole(data: bytes, stream: Any, errors: type[Exception], done: str) -> bytes:
    """The state after its format byte, decompressed by `stream` to its very end."""
    try:
        plain = stream.decompress(data[1:])
    except errors as e:
        raise StateFormatError(f"a compressed stored state cannot be {done}: {e}") from e
    if not stream.eof or stream.unused_data:
        raise StateFormatError("a compressed stored state is truncated or has bytes after "
                               "its end")
    return plain


def is_plain_state(state: bytes) -> bool:
    """Whether a stored state is readable without a cipher: JSON, as it is or compressed."""
    try:
        json.loads(inflate(state))
    except ValueError:  # StateFormatError, and JSON's own errors, are ValueErrors
        return False
    return True


def __getattr__(name: str) -> Any:
    """`EventCompressor`, the library's hook, imported with the library when asked for."""
    if name == "EventCompressor":
        from adapters.stores.compression.compressor import EventCompressor

        return EventCompressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
