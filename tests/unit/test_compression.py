"""Compressed event states (ADRs 52, 98): the format byte, the frozen dictionary, older states."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.stores.compression import (
    COMPRESSOR_TOPIC,
    EventCompressor,
    StateFormatError,
    is_plain_state,
)
from adapters.stores.compression.dictionary_1 import DICTIONARY
from adapters.stores.events import LedgerApplication
from tests.support.former import DeflateCompressor

SHIPPED_DICTIONARY_1 = "67e2a741071a6e88bdfe206c0df1c5582043b7f8b7cb952760aa6dc1258f93c4"
STATE = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T02:57:49.144831+00:00"},'
         b'"claim_id":"C-1","person":"341225198001010117","expense":{"_type_":"money",'
         b'"_data_":2484},"policy_id":"fuyang-2021","policy_version":"1"}')


def test_the_shipped_dictionary_1_is_never_changed() -> None:
    assert hashlib.sha256(DICTIONARY).hexdigest() == SHIPPED_DICTIONARY_1
    assert len(DICTIONARY) <= 8192  # it fits the 8 KiB window it primes


def test_a_state_is_stored_as_format_byte_2_and_read_back_exactly() -> None:
    compressor = EventCompressor()
    stored = compressor.compress(STATE)
    assert stored[:1] == b"\x02"
    assert len(stored) * 3 < len(STATE)
    assert compressor.decompress(stored) == STATE


def deflated_with_dictionary_1(state: bytes) -> bytes:
    """A state as the ledger wrote it under ADR 52: format byte 1, raw deflate, dictionary 1."""
    return DeflateCompressor().compress(state)


def test_a_state_written_as_format_byte_1_is_still_read_exactly() -> None:
    assert EventCompressor().decompress(deflated_with_dictionary_1(STATE)) == STATE


@given(st.dictionaries(st.text(max_size=12), st.one_of(st.integers(), st.text(max_size=40),
                                                       st.none()), max_size=12))
def test_any_json_state_reads_back_as_it_was_written(data: dict) -> None:
    state = json.dumps(data, ensure_ascii=False).encode("utf-8")
    compressor = EventCompressor()
    assert compressor.decompress(compressor.compress(state)) == state


def test_a_state_written_before_compression_is_read_as_it_is() -> None:
    assert EventCompressor().decompress(STATE) == STATE


@pytest.mark.parametrize("stored", [b"", b"\x02abc", b"\x02", b"\x03abc", b"[1]", b"\x01",
                                    b"\x01not deflate",
                                    EventCompressor().compress(STATE)[:-3],
                                    EventCompressor().compress(STATE) + b"more",
                                    deflated_with_dictionary_1(STATE)[:-3],
                                    deflated_with_dictionary_1(STATE) + b"more"])
def test_a_state_in_no_format_of_the_ledger_is_refused_with_a_reason(stored: bytes) -> None:
    with pytest.raises(StateFormatError):
        EventCompressor().decompress(stored)
    assert not is_plain_state(stored)


def test_plain_and_compressed_json_are_told_apart_from_anything_else() -> None:
    assert is_plain_state(STATE) and is_plain_state(EventCompressor().compress(STATE))


def test_the_ledger_compresses_through_the_librarys_hook_whatever_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSOR_TOPIC", "eventsourcing.compressor:ZlibCompressor")
    app = LedgerApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        assert app.env.get("COMPRESSOR_TOPIC") == COMPRESSOR_TOPIC
        assert isinstance(app.mapper.compressor, EventCompressor)
    finally:
        app.close()
