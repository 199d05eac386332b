"""The tests' fixtures; what they share lives in `tests.support`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.stores.policy_files import load_policy_book
from domain.policy_book import PolicyBook
from tests.support.fakes import World
from tests.support.stores import STORES, Stores, stores


@pytest.fixture(scope="session")
def book() -> PolicyBook:
    return load_policy_book()


@pytest.fixture
def world(book: PolicyBook) -> World:
    return World(book)


@pytest.fixture(scope="module", params=STORES)
def module_stores(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    """Stores that live as long as a test module: its tests run with SQLite stores, then
    with PostgreSQL ones."""
    with stores(request.param, tmp_path_factory.mktemp("stores")) as made:
        yield made


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each test that asks for a store runs once on SQLite and once on PostgreSQL."""
    return request.param


@pytest.fixture
def new_store(store_kind: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Makes fresh stores of the test's kind: `new_store("name")` gives a URL."""
    with stores(store_kind, tmp_path) as made:
        yield made.new


@pytest.fixture
def store_url(new_store: Callable[..., str]) -> str:
    """A fresh, empty store: a SQLite file in tmp_path, or a PostgreSQL schema."""
    return new_store("ledger")
