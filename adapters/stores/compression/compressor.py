"""The library's compressor of event states (ADRs 52, 98), resolved from `COMPRESSOR_TOPIC`."""

from __future__ import annotations

import zstandard
from eventsourcing.persistence import Compressor

from adapters.stores.compression import (
    ZSTD_DICTIONARY_1,
    ZSTD_LEVEL,
    inflate,
    zstd_decompressor,
    zstd_dictionary,
)


class EventCompressor(Compressor):
    """New states as Zstandard frames primed with dictionary 1; every earlier format read."""

    def __init__(self) -> None:
        primed = zstd_dictionary(compress=True)
        # No magic number and no checksum: the format byte says what follows, and the chain
        # (ADR 23) already proves every stored byte unchanged.
        params = zstandard.ZstdCompressionParameters.from_level(
            ZSTD_LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=False,
            write_content_size=True, write_dict_id=False)
        self._compressor = zstandard.ZstdCompressor(dict_data=primed, compression_params=params)
        self._decompressor = zstd_decompressor(primed)

    def compress(self, data: bytes) -> bytes:
        return ZSTD_DICTIONARY_1 + self._compressor.compress(data)

    def decompress(self, data: bytes) -> bytes:
        return inflate(data, self._decompressor)
