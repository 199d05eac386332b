"""Stream ids: persons and households named by uuid5 of their ID numbers in a namespace (public,
or derived from a secret by the adapters, ADR 25); the uniqueness indexes by reference."""

from __future__ import annotations

from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5

from attrs import frozen

NAMESPACE = uuid5(NAMESPACE_URL, "https://benefitpool.example/ledger")


@frozen
class StreamIds:
    """How the streams of persons and households are named after their ID numbers: uuid5 in
    a namespace. The public namespace gives ids anyone can recompute from an ID number; a
    namespace derived from a secret (by the adapters, ADR 25) gives ids that say nothing of
    the numbers behind them."""

    namespace: UUID = NAMESPACE

    def person(self, key: str) -> UUID:
        return _person_id(self.namespace, key)

    def household(self, head_key: str, year: int) -> UUID:
        return _household_id(self.namespace, head_key, year)


PUBLIC_IDS = StreamIds()


@lru_cache(maxsize=65536)
def _person_id(namespace: UUID, key: str) -> UUID:
    return uuid5(namespace, f"person:{key}")


@lru_cache(maxsize=65536)
def _household_id(namespace: UUID, head_key: str, year: int) -> UUID:
    return uuid5(namespace, f"household:{head_key}:{year}")


def person_id(key: str) -> UUID:
    """A person's stream id under the public namespace."""
    return _person_id(NAMESPACE, key)


def household_id(head_key: str, year: int) -> UUID:
    """A household's stream id under the public namespace."""
    return _household_id(NAMESPACE, head_key, year)


@lru_cache(maxsize=65536)
def payment_ref_id(ref: str) -> UUID:
    return uuid5(NAMESPACE, f"payment_ref:{ref}")


@lru_cache(maxsize=65536)
def claim_ref_id(claim_id: str) -> UUID:
    return uuid5(NAMESPACE, f"claim:{claim_id}")


@lru_cache(maxsize=65536)
def refund_ref_id(ref: str) -> UUID:
    return uuid5(NAMESPACE, f"refund_ref:{ref}")


@lru_cache(maxsize=65536)
def command_ref_id(command_id: str) -> UUID:
    return uuid5(NAMESPACE, f"command:{command_id}")
