"""The composition root: the stores, keys and policies of a process, wired from its settings.

The command line, the server (its HTTP workers and its ledger process) and the tests open
everything through these functions; the settings module is read here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

from adapters import settings as env
from adapters.application.ledger import Ledger
from adapters.stores import chain, cipher
from adapters.stores.columnar import IN_MEMORY, ColumnarStore, columnar_file
from adapters.stores.events import LedgerApplication
from adapters.stores.policy_files import load_policy_book
from adapters.stores.tokens import TokenStore
from adapters.stores.urls import DEFAULT_DB, store_env
from adapters.stores.views import views_engine, views_on
from domain.policy_book import PolicyBook
from projections.views import LedgerViews


def settings() -> env.Settings:
    """This process's settings, read from its environment now."""
    return env.current()


def database_url(explicit: str | None = None) -> str:
    """`--db` wins, then BENEFITPOOL_DB, then the SQLite file in the current folder."""
    return explicit or settings().db or DEFAULT_DB


def policy_folder(explicit: Path | None = None) -> Path | None:
    """`--policies` wins, then BENEFITPOOL_POLICIES; None: the shipped policies."""
    return explicit or settings().policies


def policy_book(explicit: Path | None = None) -> PolicyBook:
    """The policies the ledger decides by (PolicyError for a bad file)."""
    return load_policy_book(policy_folder(explicit))


def configured_audit_key() -> bytes:
    """The event chain's key: BENEFITPOOL_AUDIT_KEY, or the public development key."""
    return chain.audit_key(settings().audit_key)


def configured_cipher_key() -> str | None:
    """The cipher key of personal data (ADR 21): BENEFITPOOL_CIPHER_KEY, checked, or None."""
    return cipher.cipher_key(settings().cipher_key)


def open_store(url: str, audit_key: bytes | None = None,
               cipher_key: str | None = None) -> LedgerApplication:
    """The event store at a database URL (tables created if missing), its chain keyed by
    `audit_key` and its events encrypted under `cipher_key`, each by default the setting's.
    A store written under another cipher key, or none, is refused (`CipherKeyError`)."""
    key = audit_key if audit_key is not None else configured_audit_key()
    secret = cipher_key if cipher_key is not None else configured_cipher_key()
    app = LedgerApplication(env={**store_env(url), **cipher.cipher_env(secret)}, audit_key=key)
    try:
        cipher.check_store(app)
    except BaseException:
        app.close()
        raise
    return app


def open_ledger(url: str, policies: PolicyBook, audit_key: bytes | None = None,
                cipher_key: str | None = None) -> Ledger:
    """The ledger that applies commands to the store at `url` (see `open_store`)."""
    return Ledger(open_store(url, audit_key, cipher_key), policies)


def open_columnar(store: LedgerApplication, url: str, threads: int | None = None
                  ) -> ColumnarStore | None:
    """The columnar claims store of a store (ADR 50), or None where it has none (PostgreSQL
    without BENEFITPOOL_COLUMNAR, or the setting `off`). `ColumnarBusy` when another process
    has it open."""
    path = columnar_file(url, settings().columnar)
    if path is None:
        return None
    return ColumnarStore(None if path == IN_MEMORY else path, store.name, threads)


def open_views(store: LedgerApplication, book: PolicyBook, url: str) -> LedgerViews:
    """The read models of a store, tables created if missing; person data held as the
    store's cipher key has it (ADR 21)."""
    return views_on(store, url, book)


def open_tokens(url: str) -> TokenStore:
    """The API tokens of the store at a database URL."""
    return TokenStore(views_engine(url))
