"""`benefitpool key create`, `token create|list|revoke` and `serve`: the HTTP API's keys,
tokens and server."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters import composition
from adapters.cli.common import (
    DbOption,
    DeploymentOption,
    JsonOption,
    PoliciesOption,
    book,
    database_url,
    err,
    fail,
    print_rows,
    refuse_missing_store,
)
from adapters.cli.regions import deployment_in_use, directory_of
from adapters.stores.tokens import TokenStore
from adapters.stores.urls import StoreError
from domain.errors import LedgerError

key_app = typer.Typer(no_args_is_help=True, help="The cipher key of personal data (ADR 21).")
token_app = typer.Typer(no_args_is_help=True,
                        help="API tokens for the HTTP API (benefitpool serve).")


@key_app.command("create")
def key_create() -> None:
    """Print a new random AES key (32 bytes, base64) for BENEFITPOOL_CIPHER_KEY."""
    from adapters.stores.cipher import create_key

    typer.echo(create_key())
    err.print("Set it as BENEFITPOOL_CIPHER_KEY before the store's first write and keep it "
              "outside the database: without it the store cannot be read.", highlight=False)


def _tokens(db: str | None, deployment: Path | None = None, create: bool = False) -> Any:
    """The token store of `--db` or of the deployment's directory; only `token create` makes
    an SQLite file where there is none."""
    regions = deployment_in_use(deployment, db)
    if regions is not None:  # a deployment's tokens live in its directory's database
        return TokenStore(directory_of(regions).engine)
    url = database_url(db)
    if url.startswith("memory:"):
        fail("tokens need a store that outlives the command, e.g. sqlite:///benefitpool.db", 2)
    if not create and url.startswith("sqlite:"):
        refuse_missing_store(url)
    try:
        return composition.open_tokens(url)
    except LedgerError as e:
        fail(str(e), 2)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(
        "--role", help="clinic, agency, auditor, analyst or admin.")],
    region: Annotated[str, typer.Option(
        "--region", help="Region code prefix the token works in (clinic and agency need one; "
                         "empty: every region).")] = "",
    label: Annotated[str | None, typer.Option("--label", help="A note: who holds it.")] = None,
    db: DbOption = None,
    deployment: DeploymentOption = None,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    from adapters.stores.tokens import TokenError

    store = _tokens(db, deployment, create=True)
    try:
        secret, token = store.create(role, region, label)
    except TokenError as e:
        fail(str(e), 2)
    finally:
        store.engine.dispose()
    sys.stdout.write(secret + "\n")
    err.print(f"token {token.id}: role {token.role}, region {token.region or 'all'}"
              f"{', ' + token.label if token.label else ''}. It is shown only now: keep it "
              "safe; send it as Authorization: Bearer <token>.", highlight=False, markup=False)


@token_app.command("list")
def token_list(json_out: JsonOption = False, db: DbOption = None,
               deployment: DeploymentOption = None) -> None:
    """Every token: id, role, region, label, created, revoked (never the secret)."""
    store = _tokens(db, deployment)
    try:
        rows = [t.as_dict() for t in store.list()]
    finally:
        store.engine.dispose()
    print_rows(rows, "API tokens", json_out, False)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(metavar="ID")],
                 db: DbOption = None, deployment: DeploymentOption = None) -> None:
    """Revoke a token at once."""
    from adapters.stores.tokens import TokenError

    store = _tokens(db, deployment)
    try:
        token = store.revoke(token_id)
    except TokenError as e:
        fail(str(e))
    finally:
        store.engine.dispose()
    err.print(f"token {token.id} ({token.role}, region {token.region or 'all'}) revoked "
              f"{token.revoked_at}", highlight=False)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="HTTP worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    ledger_process: Annotated[bool, typer.Option(
        help="Apply commands in one ledger process that every worker sends them to (the "
             "default); without it each worker applies its own.")] = True,
    db: DbOption = None,
    policies: PoliciesOption = None,
    deployment: DeploymentOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json); every endpoint but /health needs a
    token from `benefitpool token create`. Over a deployment: every region, one ledger
    process each."""
    from adapters.server import launch

    if log_level not in launch.LOG_LEVELS:
        fail(f"--log-level must be debug, info, warning or error; got {log_level!r}", 2)
    regions = deployment_in_use(deployment, db)
    chosen = book(policies)
    if regions is not None:
        _launch(lambda: launch.prepare_deployment(regions, chosen), "the deployment's stores",
                "--deployment FILE", lambda: launch.run_deployment(
                    regions, policies, host, port, workers, log_level, ledger_process))
        return
    url = database_url(db)
    _launch(lambda: launch.prepare_store(url, chosen), f"the store {url}", "",
            lambda: launch.run(url, policies, host, port, workers, log_level, ledger_process))


def _launch(prepare: Callable[[], int], what: str, where: str, run: Callable[[], None]
            ) -> None:
    """Open the store(s) once (`prepare` answers how many tokens there are), warn when there
    is no token yet, then serve until interrupted; a store that cannot be used exits 2."""
    try:
        tokens = prepare()
    except (StoreError, LedgerError) as e:
        fail(str(e), 2)
    except Exception as e:  # the store library raises its own error types
        fail(f"cannot open {what}: {e}", 2)
    if not tokens:
        err.print("warning: no API tokens yet; create one with "
                  f"`benefitpool token create --role admin{' ' + where if where else ''}`",
                  highlight=False, markup=False)
    try:
        run()
    except LedgerError as e:
        fail(str(e), 2)
