"""`benefitpool serve`: the ledger process and the HTTP workers, started and stopped.

The workers build their application from the environment (`adapters.http:app_from_env`, named
by its import path: the server starts the HTTP entry point without importing it), so one
worker or several run alike; the settings they read are exported here (ADR 24).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from attrs import evolve

from adapters import composition
from adapters import settings as env
from adapters.server.logs import log_config
from adapters.server.supervisor import LedgerProcess
from adapters.stores.deployment_files import Deployment
from adapters.stores.tokens import TokenStore
from domain.policy_book import PolicyBook

APP_FACTORY = "adapters.http:app_from_env"
LOG_LEVELS = ("debug", "info", "warning", "error")


def prepare_store(url: str, book: PolicyBook) -> int:
    """Open the store once (creating the ledger's, the views' and the tokens' tables if
    missing); returns how many API tokens it holds."""
    store = composition.open_store(url)
    try:
        views = composition.open_views(store, book, url)
        views.engine.dispose()
        tokens = composition.open_tokens(url)
        try:
            return len(tokens.list())
        finally:
            tokens.engine.dispose()
    finally:
        store.close()


def run(url: str, policies: Path | None, host: str, port: int, workers: int, log_level: str,
        ledger_process: bool) -> None:
    """Serve until interrupted: with `ledger_process`, one process applies every worker's
    commands (ADR 24); without, each worker applies its own through its group writer."""
    import uvicorn

    settings = env.current()
    # one store: its workers serve it even where the environment names a deployment
    served = evolve(settings, db=url, deployment=None, policies=policies or settings.policies)

    def serve(ledger_socket: str | None) -> None:
        env.export(evolve(served, ledger_socket=ledger_socket))
        uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers,
                    log_config=log_config(log_level), log_level=log_level)

    if not ledger_process:
        serve(None)
        return
    with LedgerProcess(url, str(policies) if policies is not None else None) as process:
        serve(process.address)


def prepare_deployment(deployment: Deployment, book: PolicyBook) -> int:
    """Open every region's store once, and the directory (tables created if missing); returns
    how many API tokens the directory holds."""
    for region in deployment.regions:
        store = composition.open_store(region.url)
        try:
            composition.open_views(store, book, region.url).engine.dispose()
        finally:
            store.close()
    directory = composition.open_directory(deployment)
    try:
        return len(TokenStore(directory.engine).list())
    finally:
        directory.engine.dispose()


def run_deployment(deployment: Deployment, policies: Path | None, host: str, port: int,
                   workers: int, log_level: str, ledger_process: bool) -> None:
    """Serve a deployment until interrupted: with `ledger_process`, one ledger process per
    region applies that region's commands (ADR 24, ADR 56)."""
    import uvicorn

    settings = env.current()
    served = evolve(settings, policies=policies or settings.policies,
                    deployment=Path(deployment.source).resolve())

    def serve(addresses: dict[str, str]) -> None:
        env.export(evolve(served, ledger_socket=ledger_sockets(addresses) or None))
        uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers,
                    log_config=log_config(log_level), log_level=log_level)

    if not ledger_process:
        serve({})
        return
    folder = str(policies) if policies is not None else None
    with ExitStack() as stack:
        processes = {r.prefix: stack.enter_context(LedgerProcess(r.url, folder))
                     for r in deployment.regions}
        serve({prefix: p.address for prefix, p in processes.items()})


def ledger_sockets(addresses: dict[str, str]) -> str:
    """Several regions' ledger sockets in one setting: `PREFIX=ADDRESS;PREFIX=ADDRESS`."""
    return ";".join(f"{prefix}={address}" for prefix, address in addresses.items())


def parse_ledger_sockets(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    return dict(part.split("=", 1) for part in text.split(";") if "=" in part)
