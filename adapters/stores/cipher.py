"""Personal data at rest (ADR 21): the cipher key, the events' cipher, the views' codec, masks.

`BENEFITPOOL_CIPHER_KEY` is a base64 AES key of 16, 24 or 32 bytes (`benefitpool key create`
prints a new one). When it is set:

- every event's state is encrypted by the library's `AESCipher` (AES-GCM, the `cryptography`
  package): the composition root puts `CIPHER_TOPIC` and `CIPHER_KEY` into the application's
  environment (`cipher_env`);
- the read models hold keyed pseudonyms instead of person keys and sealed numbers and birth
  dates (`KeyedPersonalData`, the codec `projections.personal` describes), under subkeys
  derived from the cipher key by HKDF-SHA256, one per purpose.

The key is never stored. A store is encrypted or not from its first event on: `check_store`
refuses to open it with a missing or different key, with a message instead of a traceback.
"""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from functools import lru_cache
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.stores.chain import Mac
from adapters.stores.compression import is_plain_state
from adapters.stores.urls import StoreError
from domain.errors import LedgerError
from domain.ids import PUBLIC_IDS, StreamIds
from projections.personal import PLAIN, PersonalData

CIPHER_KEY_ENV = "BENEFITPOOL_CIPHER_KEY"
#: The library's AES-GCM cipher over the `cryptography` package.
CIPHER_TOPIC = "eventsourcing.cryptography:AESCipher"
KEY_SIZES = (16, 24, 32)
#: Hex digits kept of a pseudonym's HMAC-SHA256: 128 bits, no collision in any real county.
PSEUDONYM_LENGTH = 32
PSEUDONYM_CACHE = 200_000


class CipherKeyError(StoreError):
    """The cipher key is unusable, or is not the key the store was written with."""


class SealError(LedgerError):
    """A sealed value in the views cannot be opened with this key."""


# --- the key ------------------------------------------------------------------------------------


def cipher_key(value: str | None) -> str | None:
    """A BENEFITPOOL_CIPHER_KEY setting, checked (None when it is not set)."""
    value = (value or "").strip()
    if not value:
        return None
    key_bytes(value)
    return value


def key_bytes(value: str) -> bytes:
    """The AES key a base64 text holds; a clear error for anything else."""
    try:
        key = b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CipherKeyError(f"{CIPHER_KEY_ENV} is not base64; create a key with "
                             "`benefitpool key create`") from None
    if len(key) not in KEY_SIZES:
        raise CipherKeyError(f"{CIPHER_KEY_ENV} holds {len(key)} bytes; an AES key has 16, 24 "
                             "or 32 (create one with `benefitpool key create`)")
    return key


def create_key() -> str:
    """A new random 32-byte AES key, base64 (the library's `AESCipher.create_key`)."""
    from eventsourcing.cryptography import AESCipher

    return AESCipher.create_key(32)


def cipher_env(key: str | None) -> dict[str, str]:
    """The library's settings that encrypt every event's state under `key` (none without)."""
    if key is None:
        return {}
    key_bytes(key)
    return {"CIPHER_TOPIC": CIPHER_TOPIC, "CIPHER_KEY": key.strip()}


def personal_data(key: str | None) -> PersonalData:
    """The views' codec for a cipher key: `PLAIN` without one."""
    return PLAIN if key is None else KeyedPersonalData(key_bytes(key))


# --- the views' codec ----------------------------------------------------------------------------


def _subkey(key: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                info=b"benefitpool personal data v1: " + purpose).derive(key)


class KeyedPersonalData:
    """Pseudonyms: the first 32 hex digits of HMAC-SHA256(subkey, person key). Sealed text:
    AES-SIV (RFC 5297, deterministic authenticated encryption) under another subkey, base64.
    Both are deterministic, so equal persons join and a rebuilt view equals the live one."""

    plain = False

    def __init__(self, key: bytes, ids: StreamIds | None = None) -> None:
        mac = Mac(_subkey(key, b"pseudonym", 32))
        self._siv = AESSIV(_subkey(key, b"seal", 64))
        #: Stream ids in a namespace derived from the key (ADR 25), unless given.
        self.ids = ids or StreamIds(UUID(bytes=_subkey(key, b"stream ids", 16)))
        self._key = key

        @lru_cache(maxsize=PSEUDONYM_CACHE)
        def pseudonym(person_key: str) -> str:
            return mac.digest(person_key.encode("utf-8")).hex()[:PSEUDONYM_LENGTH]

        self.pseudonym = pseudonym

    def seal(self, text: str) -> str:
        return b64encode(self._siv.encrypt(text.encode("utf-8"), None)).decode("ascii")

    def unseal(self, stored: str) -> str:
        try:
            return self._siv.decrypt(b64decode(stored, validate=True), None).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise SealError("a sealed value in the views does not open with "
                            f"{CIPHER_KEY_ENV}; rebuild the views (`benefitpool views "
                            "rebuild`)") from None

    def with_public_ids(self) -> KeyedPersonalData:
        """The same codec for a store whose streams were named before ADR 25."""
        return KeyedPersonalData(self._key, PUBLIC_IDS)

    def __repr__(self) -> str:
        return "KeyedPersonalData(...)"


# --- the store ------------------------------------------------------------------------------------


def check_store(app: Any) -> None:
    """Decode the store's first event, to refuse a store whose events were written under
    another cipher key (or none) before anything is read or written."""
    first = app.recorder.select_notifications(1, 1)
    if not first:
        return
    try:
        event = app.mapper.to_domain_event(first[0])
    except Exception:  # whatever the library raised: diagnosed below
        pass
    else:
        if not app.personal.plain and _named_publicly(event):
            app.use_personal(app.personal.with_public_ids())
        return
    encrypted = not is_plain_state(first[0].state)
    if app.mapper.cipher is None and encrypted:
        raise CipherKeyError(f"the store's events are encrypted: set {CIPHER_KEY_ENV} to the "
                             "key they were written with")
    if app.mapper.cipher is not None and not encrypted:
        raise CipherKeyError(f"the store's events are not encrypted; it was written without "
                             f"{CIPHER_KEY_ENV} (encrypting an existing store is not "
                             "supported yet): unset it to open this store")
    if app.mapper.cipher is not None:
        raise CipherKeyError(f"{CIPHER_KEY_ENV} is not the key this store's events were "
                             "encrypted with")
    raise CipherKeyError("the store's first event cannot be decoded")


def _named_publicly(event: Any) -> bool:
    """Whether a store's first event (a registration) names its stream publicly: an encrypted
    store written before ADR 25 keeps those ids, or none of its streams would be found."""
    key = getattr(event, "person_key", None)
    return isinstance(key, str) and event.originator_id == PUBLIC_IDS.person(key)

