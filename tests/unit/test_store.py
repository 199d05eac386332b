"""Database URLs: what each store's URL becomes for the event store and for the views."""

from __future__ import annotations

import pytest

from adapters.stores.urls import StoreError, quoted, store_env
from adapters.stores.views import views_engine


def test_a_postgresql_url_names_the_server_database_user_and_schema() -> None:
    env = store_env("postgresql://clinic:p%40ss@db.example:6543/ledger?schema=funan")
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.example", "6543", "ledger")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("clinic", "p@ss")
    assert env["POSTGRES_SCHEMA"] == "funan"


def test_a_postgresql_url_without_details_means_the_local_server_and_public_schema() -> None:
    env = store_env("postgres://")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_USER"]) == (
        "127.0.0.1", "5432", "postgres")
    assert "POSTGRES_SCHEMA" not in env
    assert env["POSTGRES_POOL_SIZE"] == "1"  # one connection kept, more while needed


def test_pool_and_timeouts_can_be_set_in_the_url() -> None:
    env = store_env("postgresql://u@h/d?pool_size=4&max_overflow=2&connect_timeout=3"
                    "&lock_timeout=7")
    assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"]) == ("4", "2")
    assert (env["POSTGRES_CONNECT_TIMEOUT"], env["POSTGRES_LOCK_TIMEOUT"]) == ("3", "7")


@pytest.mark.parametrize("schema", ["Funan", "funan county", "2021", "a-b", "x" * 64])
def test_a_schema_name_the_library_cannot_name_its_types_in_is_refused(schema: str) -> None:
    with pytest.raises(StoreError, match="schema name"):
        store_env(f"postgresql://u@h/d?schema={schema}")


def test_an_unknown_scheme_is_refused_naming_the_ones_supported() -> None:
    with pytest.raises(StoreError, match="postgresql://"):
        store_env("mysql://u@h/d")


def test_the_views_of_a_postgresql_store_use_its_database_through_psycopg() -> None:
    engine = views_engine("postgresql://clinic:secret@db.example:6543/ledger?schema=funan")
    try:  # not connected: no server needed
        assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
        url = engine.url
        assert (url.host, url.port, url.database, url.username, url.password) == (
            "db.example", 6543, "ledger", "clinic", "secret")
    finally:
        engine.dispose()


def test_identifiers_are_quoted_for_postgresql() -> None:
    assert quoted("funan") == '"funan"'
    assert quoted('a"b') == '"a""b"'
