"""API tokens: kept only as digests, with a role and a region prefix, on SQLite and on
PostgreSQL; the CLI (run in the test's process) shows a secret once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.composition import open_tokens
from adapters.stores.tokens import (
    ROLE_ACTIONS,
    ROLES,
    TokenError,
    TokenStore,
    digest,
)
from domain.commands import OPS
from tests.support.cli import run_cli


@pytest.fixture
def store(store_url: str) -> Iterator[TokenStore]:
    """The token table of a fresh store: a SQLite file or a PostgreSQL schema."""
    tokens = open_tokens(store_url)
    yield tokens
    tokens.engine.dispose()


def test_a_token_is_stored_only_as_its_sha256_digest(store: TokenStore) -> None:
    secret, token = store.create("clinic", "341225", "Funan township centre")
    with store.engine.connect() as db:  # the table's rows as stored, behind the store's back
        rows = [tuple(row) for row in db.execute(text("SELECT * FROM api_token"))]
    assert len(rows) == 1
    assert secret not in repr(rows) and digest(secret) in rows[0]
    assert secret.startswith("bp_") and len(secret) >= 40
    assert token.role == "clinic" and token.region == "341225"


def test_a_secret_authenticates_as_its_token_until_revoked(store: TokenStore) -> None:
    secret, token = store.create("agency", "3412")
    other, _ = store.create("analyst")
    assert store.authenticate(secret) == token
    assert store.authenticate(other).role == "analyst"
    assert store.authenticate(secret + "x") is None
    assert store.authenticate("") is None and store.authenticate("é" * 10) is None
    revoked = store.revoke(token.id)
    assert revoked.revoked and revoked.revoked_at
    assert store.authenticate(secret) is None
    assert store.revoke(token.id).revoked_at == revoked.revoked_at


def test_two_tokens_never_share_a_secret(store: TokenStore) -> None:
    secrets = {store.create("admin")[0] for _ in range(50)}
    assert len(secrets) == 50


@pytest.mark.parametrize("role,region", [
    ("superuser", ""), ("clinic", ""), ("agency", ""), ("clinic", "34a2"),
    ("auditor", "3412251"), ("analyst", " 34 12"),
])
def test_a_token_needs_a_known_role_and_a_region_prefix_of_digits(store: TokenStore, role: str,
                                                                   region: str) -> None:
    with pytest.raises(TokenError):
        store.create(role, region)
    assert store.list() == []


def test_revoking_an_unknown_token_is_refused(store: TokenStore) -> None:
    with pytest.raises(TokenError):
        store.revoke(99)


def test_each_role_may_do_what_adr_20_says() -> None:
    assert ROLES == ("clinic", "agency", "auditor", "analyst", "admin")
    assert ROLE_ACTIONS["clinic"] == {"claim", "quote", "reverse_claim", "household", "person"}
    assert ROLE_ACTIONS["agency"] >= {"register", "enroll", "pay", "grant_subsidy", "refund"}
    assert not ROLE_ACTIONS["agency"] & {"claim", "quote", "reverse_claim", "whatif", "audit"}
    assert ROLE_ACTIONS["auditor"].isdisjoint(OPS)
    assert ROLE_ACTIONS["analyst"] == {"report", "whatif"}
    assert ROLE_ACTIONS["admin"] == set().union(*ROLE_ACTIONS.values())
    assert set(OPS) <= ROLE_ACTIONS["admin"]


def test_a_prefix_covers_the_regions_that_start_with_it(store: TokenStore) -> None:
    _, fuyang = store.create("clinic", "3412")
    _, everywhere = store.create("admin")
    assert fuyang.covers("341225") and fuyang.covers("3412")
    assert not fuyang.covers("331102") and not fuyang.covers("34")
    assert everywhere.covers("331102") and everywhere.covers("")


def test_the_cli_prints_a_token_once_lists_tokens_without_it_and_revokes(tmp_path: Path
                                                                          ) -> None:
    made = run_cli("token", "create", "--role", "clinic", "--region", "3412", "--label",
                   "Funan", cwd=tmp_path)
    assert made.exit_code == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("bp_") and "shown only now" in made.stderr
    listed = run_cli("token", "list", "--json", cwd=tmp_path)
    tokens = json.loads(listed.stdout)
    assert [(t["id"], t["role"], t["region"], t["label"], t["revoked"]) for t in tokens] == [
        (1, "clinic", "3412", "Funan", False)]
    assert secret not in listed.stdout and digest(secret) not in listed.stdout
    assert run_cli("token", "revoke", "1", cwd=tmp_path).exit_code == 0
    assert json.loads(run_cli("token", "list", "--json", cwd=tmp_path).stdout)[0]["revoked"]
    refused = run_cli("token", "create", "--role", "agency", cwd=tmp_path)
    assert refused.exit_code == 2 and "--region" in refused.stderr
    assert run_cli("token", "revoke", "7", cwd=tmp_path).exit_code == 1
