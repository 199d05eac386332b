"""The HTTP API: every command of the contract, the household and person queries, reports,
what-if and audit, behind API tokens with roles and region prefixes (ADR 20).

`create_app(url, book)` builds a FastAPI application on the store at `url`; nothing is opened
at import time. `benefitpool serve` runs `app_from_env` under uvicorn (adapters.server.launch).

Commands are validated by the ledger's own parser (`adapters.application.lines`), once, so
reasons and messages are the command file's; the Pydantic models (`schemas`) only describe
the bodies in the OpenAPI document.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI

from adapters import composition
from adapters.http.auth import Auth
from adapters.http.console import add_console
from adapters.http.docs import add_docs
from adapters.http.errors import add_error_handlers
from adapters.http.routes import add_command_routes, add_query_routes
from adapters.http.service import Service
from adapters.server.ledger_process import LedgerClient
from adapters.server.writer import FREEZE_EVERY, freeze_long_lived
from adapters.stores.deployment_files import Deployment
from adapters.stores.tokens import TokenStore
from domain.policy_book import PolicyBook

log = logging.getLogger("benefitpool.http")


def create_app(url: str, book: PolicyBook, *, tokens: TokenStore | None = None,
               audit_key: bytes | None = None, long_running: bool = False,
               ledger_address: str | None = None, close_on_shutdown: bool = False) -> FastAPI:
    """The HTTP API on the store at `url` (created if missing), deciding by `book`. Tokens are
    read from the store's `api_token` table unless a `TokenStore` is given. The store stays
    open for the app's life (an app may be started and stopped more than once, as test
    clients do): `app.state.service.close()` closes it, or its shutdown when
    `close_on_shutdown`. A `long_running` app (a server process's only one) keeps its
    long-lived objects out of full garbage collections (ADR 23): what is alive once it is
    built, and again every FREEZE_EVERY commands. With a `ledger_address`, commands go to the
    ledger process listening there (ADR 24) and this app opens no ledger: it only reads."""
    store = composition.open_store(url, audit_key=audit_key)
    try:
        views = composition.open_views(store, book, url)
        service = Service(store, book, views, tokens or TokenStore(views.engine),
                          freeze_every=FREEZE_EVERY if long_running else None,
                          remote=LedgerClient(ledger_address) if ledger_address else None,
                          columnar=_columnar_opener(store, url))
    except Exception:
        store.close()
        raise

    return _app(service, long_running, close_on_shutdown)


def _columnar_opener(store: Any, url: str) -> Any:
    """Opens the store's columnar claims store, one what-if at a time (None: it has none)."""
    from adapters.stores.columnar import columnar_file

    if columnar_file(url, composition.settings().columnar) is None:
        return None
    return lambda: composition.open_columnar(store, url)


def create_deployment_app(deployment: Deployment, book: PolicyBook, *,
                          ledger_addresses: Mapping[str, str] | None = None,
                          long_running: bool = False, close_on_shutdown: bool = False
                          ) -> FastAPI:
    """The HTTP API over a deployment (ADR 56): one service per region, commands routed
    through the directory, API tokens kept in the directory's database. With
    `ledger_addresses` (region prefix -> socket), each region's commands go to its own ledger
    process."""
    from adapters.http.regional import RegionalService

    addresses = dict(ledger_addresses or {})
    services: dict[str, Service] = {}
    try:
        for region in deployment.regions:
            store = composition.open_store(region.url)
            try:
                views = composition.open_views(store, book, region.url)
                address = addresses.get(region.prefix)
                services[region.prefix] = Service(
                    store, book, views, TokenStore(views.engine),
                    freeze_every=FREEZE_EVERY if long_running else None,
                    remote=LedgerClient(address) if address else None,
                    columnar=_columnar_opener(store, region.url))
            except Exception:
                store.close()
                raise
        directory = composition.open_directory(deployment)
    except Exception:
        for service in services.values():
            service.close()
        raise
    service = RegionalService(deployment, directory, composition.directory_key(), services,
                              TokenStore(directory.engine), book,
                              composition.enrolled_in(deployment))
    return _app(service, long_running, close_on_shutdown)


def _app(service: Any, long_running: bool, close_on_shutdown: bool) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if getattr(service, "aclose", None) is not None:
            await service.aclose()
        elif service.remote is not None:  # on the loop that used the connection
            await service.remote.aclose()
        if close_on_shutdown:
            service.close()

    app = FastAPI(
        lifespan=lifespan, docs_url=None, redoc_url=None,  # served offline: add_docs
        title="benefitpool", version="1",
        description="The household benefit-pool ledger over HTTP: the commands of the "
                    "command-file contract, queries, reports, what-if and audit. Every "
                    "endpoint but /health needs `Authorization: Bearer <token>` "
                    "(`benefitpool token create`). These pages: /docs and /redoc; the web "
                    "console: /ui/.")
    app.state.service = service
    auth = Auth(service.tokens)
    add_error_handlers(app, log)
    add_docs(app)
    add_command_routes(app, service, auth)
    add_query_routes(app, service, auth)
    add_console(app, service, auth)
    if long_running:
        freeze_long_lived()
    return app


def app_from_env() -> FastAPI:
    """The app for `uvicorn --factory` (one per worker process): the store, the policies and
    the ledger process's socket from the settings `benefitpool serve` exported."""
    settings = composition.settings()
    if settings.deployment is not None:
        from adapters.server.launch import parse_ledger_sockets

        return create_deployment_app(
            composition.open_deployment(settings.deployment), composition.policy_book(),
            ledger_addresses=parse_ledger_sockets(settings.ledger_socket), long_running=True,
            close_on_shutdown=True)
    return create_app(composition.database_url(), composition.policy_book(), long_running=True,
                      ledger_address=settings.ledger_socket, close_on_shutdown=True)
