"""How the read models hold persons (ADR 21): one codec for every person column.

The views' person columns (`person_registry.person`, `person_year_version.person` and
`household_head`, `household_pool.head`, `household_member.person`, `claims_journal.person`
and `head`) hold `personal.pseudonym(person key)`; `person_registry.number` and `birth_date`
hold `personal.seal(text)`, which `personal.unseal` turns back into the text for display.

Without a cipher key the codec is `PLAIN`: pseudonyms are the person keys themselves and
sealing changes nothing, so the tables hold exactly what they held before ADR 21. With a key,
`adapters.personal.KeyedPersonalData` holds a keyed pseudonym (HMAC) and a deterministic
authenticated encryption (AES-SIV) instead. The projections never see the key: the adapters
build the codec and pass it in.
"""

from __future__ import annotations

from typing import Protocol

from domain.ids import PUBLIC_IDS, StreamIds


class PersonalData(Protocol):
    """The codec of the views' person data."""

    #: True when pseudonyms are the person keys themselves (no key: nothing is protected).
    plain: bool
    #: How the store names persons' and households' streams (ADR 25).
    ids: StreamIds

    def pseudonym(self, key: str) -> str:
        """What a person column holds for the person key `key`; the same key always gives
        the same pseudonym, so equal persons join."""
        ...

    def seal(self, text: str) -> str:
        """Text as stored in a sealed column; the same text always gives the same value, so a
        rebuilt view equals the incrementally built one."""
        ...

    def unseal(self, stored: str) -> str:
        """The text a sealed column holds."""
        ...


class PlainPersonalData:
    """No cipher key: person columns hold person keys, numbers and dates in clear."""

    plain = True
    ids = PUBLIC_IDS

    def pseudonym(self, key: str) -> str:
        return key

    def seal(self, text: str) -> str:
        return text

    def unseal(self, stored: str) -> str:
        return stored

    def __repr__(self) -> str:
        return "PLAIN"


PLAIN: PersonalData = PlainPersonalData()
