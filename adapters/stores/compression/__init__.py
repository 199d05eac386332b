"""Compressed event states (ADR 52): deflate with a preset dictionary of the ledger's own event
shapes, through the library's compressor hook (`COMPRESSOR_TOPIC`), before any encryption.

A stored state says how it was written by its first byte:

- `{`: the transcoder's JSON as it is, written before compression (older stores);
- `\\x01`: raw deflate (8 KiB window) primed with dictionary 1 (`dictionary_1.DICTIONARY`);
- `\\x02`: a Zstandard frame without its magic number, level 3, its content size written,
  primed with dictionary 1 as raw content (ADR 98; what new states are written as).

All three are stored schema. A dictionary, once shipped, is never changed: a better one gets the
next number and byte, and every earlier one stays readable.
"""

from __future__ import annotations

import json
import zlib

import zstandard
from eventsourcing.persistence import Compressor

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


class EventCompressor(Compressor):
    """New states as Zstandard frames primed with dictionary 1; every earlier format read."""

    def __init__(self) -> None:
        self._dictionary = dictionary_1.DICTIONARY
        primed = zstandard.ZstdCompressionDict(self._dictionary,
                                               dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        primed.precompute_compress(level=ZSTD_LEVEL)
        # No magic number and no checksum: the format byte says what follows, and the chain
        # (ADR 23) already proves every stored byte unchanged.
        params = zstandard.ZstdCompressionParameters.from_level(
            ZSTD_LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=False,
            write_content_size=True, write_dict_id=False)
        self._compressor = zstandard.ZstdCompressor(dict_data=primed, compression_params=params)
        self._decompressor = zstandard.ZstdDecompressor(
            dict_data=primed, format=zstandard.FORMAT_ZSTD1_MAGICLESS)

    def compress(self, data: bytes) -> bytes:
        return ZSTD_DICTIONARY_1 + self._compressor.compress(data)

    def decompress(self, data: bytes) -> bytes:
        tag = data[:1]
        if tag == ZSTD_DICTIONARY_1:
            return self._unzstd(data)
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

    def _unzstd(self, data: bytes) -> bytes:
        frame = self._decompressor.decompressobj()
        try:
            plain = frame.decompress(data[1:])
        except zstandard.ZstdError as e:
            raise StateFormatError(f"a compressed stored state cannot be read: {e}") from e
        if not frame.eof or frame.unused_data:
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
