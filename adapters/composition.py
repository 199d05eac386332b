"""The composition root: the stores, keys and policies of a process, wired from its settings.

The command line, the server (its HTTP workers and its ledger process) and the tests open
everything through these functions; the settings module is read here and nowhere else.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from attrs import frozen

from adapters import settings as env
from adapters.stores.urls import DEFAULT_DB, StoreError, store_env
from domain.errors import LedgerError, PolicyError

if TYPE_CHECKING:  # the rest is imported where it is used: a command loads what it needs
    from adapters.application.ledger import Ledger
    from adapters.stores.columnar import ColumnarStore
    from adapters.stores.deployment_files import Deployment
    from adapters.stores.directory import Directory
    from adapters.stores.events import LedgerApplication
    from adapters.stores.sqlite_reads import StoreReads
    from adapters.stores.tokens import TokenStore
    from adapters.usecases.regional_audit import RegionAudit, RegionAuditJob
    from adapters.usecases.regional_ingest import RegionDone, RegionJob
    from adapters.usecases.regional_whatif import RegionWhatIfJob
    from adapters.usecases.views import RegionViewsJob
    from adapters.usecases.whatif import WhatIf
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
    from adapters.stores.policy_files import load_policy_book

    return load_policy_book(policy_folder(explicit))


def configured_audit_key() -> bytes:
    """The event chain's key: BENEFITPOOL_AUDIT_KEY, or the public development key."""
    from adapters.stores import chain

    return chain.audit_key(settings().audit_key)


def configured_cipher_key() -> str | None:
    """The cipher key of personal data (ADR 21): BENEFITPOOL_CIPHER_KEY, checked, or None."""
    from adapters.stores import cipher

    return cipher.cipher_key(settings().cipher_key)


def open_store(url: str, audit_key: bytes | None = None,
               cipher_key: str | None = None) -> LedgerApplication:
    """The event store at a database URL (tables created if missing), its chain keyed by
    `audit_key` and its events encrypted under `cipher_key`, each by default the setting's.
    A store written under another cipher key, or none, is refused (`CipherKeyError`)."""
    from eventsourcing.persistence import OperationalError

    from adapters.stores import cipher
    from adapters.stores.events import LedgerApplication

    key = audit_key if audit_key is not None else configured_audit_key()
    secret = cipher_key if cipher_key is not None else configured_cipher_key()
    env = {**store_env(url), **cipher.cipher_env(secret)}
    try:
        app = LedgerApplication(env=env, audit_key=key)
    except OperationalError as e:
        if "statements in progress" not in str(e):
            raise
        # The store library's new SQLite connection can leave its journal-mode statement
        # active while something (a profiler on a Dask worker) holds its frame: once more.
        app = LedgerApplication(env=env, audit_key=key)
    try:
        cipher.check_store(app)
    except BaseException:
        app.close()
        raise
    return app


def open_ledger(url: str, policies: PolicyBook, audit_key: bytes | None = None,
                cipher_key: str | None = None) -> Ledger:
    """The ledger that applies commands to the store at `url` (see `open_store`)."""
    from adapters.application.ledger import Ledger

    return Ledger(open_store(url, audit_key, cipher_key), policies)


#: Threads a columnar store opened in this process may use (None: DuckDB's default, every
#: core); 1 in a Dask worker (`on_dask_worker`, ADR 122).
_TASK_THREADS: list[int | None] = [None]


def on_dask_worker() -> None:
    """This process is a Dask worker, one of several sharing the machine's cores, each task on
    one of them: the columnar stores it opens, and Arrow's own pool, use one thread (ADR 122)
    instead of every core each."""
    import pyarrow as pa

    _TASK_THREADS[0] = 1
    pa.set_cpu_count(1)


def open_columnar(store: LedgerApplication, url: str, threads: int | None = None
                  ) -> ColumnarStore | None:
    """The columnar claims store of a store (ADR 50), or None where it has none (PostgreSQL
    without BENEFITPOOL_COLUMNAR, or the setting `off`). `ColumnarBusy` when another process
    has it open. `threads`: DuckDB's, by default every core (one in a Dask worker)."""
    from adapters.stores.columnar import IN_MEMORY, ColumnarStore, columnar_file

    path = columnar_file(url, settings().columnar)
    if path is None:
        return None
    return ColumnarStore(None if path == IN_MEMORY else path, store.name,
                         threads if threads is not None else _TASK_THREADS[0])


def open_views(store: LedgerApplication, book: PolicyBook, url: str) -> LedgerViews:
    """The read models of a store, tables created if missing; person data held as the
    store's cipher key has it (ADR 21)."""
    from adapters.stores.views import views_on

    return views_on(store, url, book)


def open_store_reads(url: str) -> StoreReads | None:
    """A reader of the SQLite store at `url` through `sqlite3` alone, for a query whose views
    are current (ADR 96); None where queries go through the ledger: another kind of store, a
    store in memory, a file that cannot be opened, or a cipher key set (its views hold
    pseudonyms and its streams are named under the key)."""
    if settings().cipher_key is not None:
        return None
    env = store_env(url)
    path = env.get("SQLITE_DBNAME", ":memory:")
    if path == ":memory:" or path.startswith("file:") or not Path(path).is_file():
        return None
    from adapters.stores.sqlite_reads import StoreReads

    try:
        return StoreReads(path)
    except sqlite3.Error:
        return None  # the ledger opens it and says why it cannot


def open_tokens(url: str) -> TokenStore:
    """The API tokens of the store at a database URL."""
    from adapters.stores.tokens import TokenStore
    from adapters.stores.views import views_engine

    return TokenStore(views_engine(url))


# --- a deployment of several regional stores (ADR 56) --------------------------------------

def deployment_file(explicit: Path | None = None, db: str | None = None) -> Path | None:
    """`--deployment` wins, then BENEFITPOOL_DEPLOYMENT unless `--db` names one store
    (ADR 131); None: one store."""
    if explicit is not None or db is not None:
        return explicit
    return settings().deployment


def open_deployment(path: Path) -> Deployment:
    """The deployment a file describes (DeploymentError names what is wrong)."""
    from adapters.stores.deployment_files import load_deployment

    return load_deployment(path)


def open_directory(deployment: Deployment) -> Directory:
    """The deployment's directory, its tables created if missing."""
    from adapters.stores.directory import Directory
    from adapters.stores.views import directory_engine

    return Directory(directory_engine(deployment.directory))


def directory_key() -> bytes:
    """The key of the directory's person pseudonyms: the event chain's key."""
    return configured_audit_key()


def enrolled_in(deployment: Deployment) -> Callable[[str, str, int], bool]:
    """Whether a region's ledger holds an enrollment of (person key, year)."""

    def check(prefix: str, key: str, year: int) -> bool:
        app = open_store(deployment.by_prefix(prefix).url)
        try:
            person = app.get_or_none(app.ids.person(key))
            return person is not None and person.year(year) is not None
        finally:
            app.close()

    return check


def ingest_region(job: RegionJob) -> RegionDone:
    """One region's share of a file ingested into its store (run on a Dask worker, or here):
    the worker opens the store itself, by URL, under this process's settings."""
    from adapters.usecases.ingest import IngestBusy, IngestStopped, ingest_file
    from adapters.usecases.regional_ingest import RegionDone

    try:
        ledger = open_ledger(job.url, policy_book(Path(job.policies) if job.policies else None))
    except (StoreError, LedgerError) as e:
        return RegionDone(job.prefix, "store_failed", 0, f"cannot open {job.url}: {e}")
    try:
        with open(job.results, "w", encoding="utf-8") as sink:
            ingest_file(ledger, Path(job.lines), sink, job.batch_size)
        return RegionDone(job.prefix)
    except IngestStopped as e:
        return RegionDone(job.prefix, e.kind, e.last_line, e.message)
    except IngestBusy as e:
        return RegionDone(job.prefix, "busy", 0, str(e))
    finally:
        ledger.app.close()




def audit_region(job: RegionAuditJob) -> RegionAudit:
    """One region's store audited as `audit verify` audits one store (its views compared
    with their rebuild unless `job.views` is off, ADR 130), and the enrollments its views
    hold, caught up to the log (run on a Dask worker, or here)."""
    from adapters.usecases.audit import (
        AuditUnavailable,
        decisions_in_own_process,
        fresh_in_own_process,
        run_audit,
    )
    from adapters.usecases.regional_audit import RegionAudit, enrollments_held

    book = policy_book(Path(job.policies) if job.policies else None)
    app = open_store(job.url)
    try:
        views = open_views(app, book, job.url)
        try:
            # a process of its own: the collector frozen per batch, as `audit verify` does
            report = run_audit(app, book, views if job.views else None,
                               decisions_check=decisions_in_own_process,
                               fresh_views=fresh_in_own_process)
            held = enrollments_held(app, views, report, caught_up=job.views,
                                    freeze_gc=True)
        except AuditUnavailable as e:  # reported, not raised: it crosses from a worker
            report = {"position": None, "clean": False, "problems": 1,
                      "unavailable": {"reason": e.reason, "message": str(e)}}
            held = set()
        finally:
            views.engine.dispose()
    finally:
        app.close()
    return RegionAudit(job.prefix, report, frozenset(held))


def whatif_region(job: RegionWhatIfJob) -> WhatIf:
    """One region's history re-decided under the reform by its own store (run on a Dask
    worker, or here), the fast engine reading the region's columnar store where it has one
    (ADR 50); nothing is written. Its claim outcomes are returned counted (ADR 121)."""
    from adapters.usecases.regional_whatif import counted_in_region
    from adapters.usecases.whatif import run_whatif
    from adapters.whatif.fast import timeline_by_replay

    book = policy_book(Path(job.policies) if job.policies else None)
    app = open_store(job.url)
    try:
        if job.engine == "exact":
            return counted_in_region(run_whatif(
                app, None, book, job.reform, job.patch, job.scope, job.engine,
                behaviour=job.behaviour))
        from adapters.stores.columnar import ColumnarBusy

        views = open_views(app, book, job.url)
        try:
            columnar = open_columnar(app, job.url)
        except ColumnarBusy:  # another process holds it: the views answer
            columnar = None
        try:
            return counted_in_region(run_whatif(
                app, views, book, job.reform, job.patch, job.scope, job.engine,
                columnar=columnar, behaviour=job.behaviour,
                timeline_replay=partial(timeline_by_replay, freeze_gc=True)))
        finally:
            if columnar is not None:
                columnar.close()
            views.engine.dispose()
    finally:
        app.close()


def rebuild_region_views(job: RegionViewsJob) -> list[dict[str, Any]]:
    """One region's views dropped and rebuilt from its log (run on a Dask worker, or here),
    its own columnar store too when `columnar` is named (in the same read of the log, ADR
    115), or only reported on (no names); returns their status rows, each naming the
    region."""
    from adapters.usecases import views as use
    from projections.views import ViewsDamaged, status

    book = policy_book(Path(job.policies) if job.policies else None)
    sql = [n for n in job.names if n != use.COLUMNAR]
    wanted = use.COLUMNAR in job.names or not job.names  # rebuilt, or reported on
    failures: tuple[type[Exception], ...] = (ViewsDamaged, RegionColumnarBusy)
    if wanted:
        from adapters.stores.columnar.store import ColumnarFailed

        failures = (*failures, ColumnarFailed)
    app = open_store(job.url)
    try:
        views = open_views(app, book, job.url)
        try:
            with region_columnar(app, job.url, wanted) as columns:
                if columns is None:
                    rows = use.rebuild(app, views, sql) if sql else status(app, views)
                elif sql:
                    rows = use.rebuild_with_columnar(app, views, sql, columns)
                else:
                    rows = [*status(app, views), (
                        use.rebuild_columnar(app, columns, views.personal) if job.names
                        else use.columnar_status(app, columns))]
        except failures as e:  # reported, not raised: it crosses from a worker
            return [{"region": job.prefix, "damaged": str(e)}]
        finally:
            views.engine.dispose()
    finally:
        app.close()
    return [{"region": job.prefix, **row} for row in rows]


class RegionColumnarBusy(StoreError):
    """A region's columnar store is held by another process: it is not rebuilt."""


@contextmanager
def region_columnar(app: LedgerApplication, url: str, wanted: bool
                    ) -> Iterator[ColumnarStore | None]:
    """A region's own columnar store, open for a rebuild or a status: None when not `wanted`,
    or when the region has none of its own (BENEFITPOOL_COLUMNAR names one folder for every
    region, or turns it off: ADR 115). `RegionColumnarBusy` when another process holds it,
    as a store's own `views status` and `views rebuild` refuse then."""
    from adapters.stores.columnar import ColumnarBusy

    if not wanted or settings().columnar is not None:
        yield None
        return
    try:
        columns = open_columnar(app, url)
    except ColumnarBusy as e:
        raise RegionColumnarBusy(str(e)) from e
    try:
        yield columns
    finally:
        if columns is not None:
            columns.close()


# --- partitioned replays (ADR 55) -------------------------------------------------------------


def scheduler_address(explicit: str | None = None) -> str | None:
    """`--scheduler` wins, then DASK_SCHEDULER_ADDRESS; None: no existing Dask cluster."""
    return explicit or settings().dask_scheduler


@frozen
class StoreSource:
    """What another process (a Dask worker, ADR 55) needs to open the same store, read-only,
    and decide by the same policies: the store's URL (an SQLite file by its absolute path),
    its cipher key, the policy folder (None: the shipped one) and the fingerprint of the
    policies the caller loaded from it."""

    url: str
    cipher_key: str | None
    policies: str | None
    policy_fingerprint: str


def policy_fingerprint(book: PolicyBook) -> str:
    """One hash over every policy of a book (its reference and content hash)."""
    text = "\n".join(sorted(f"{p.ref} {p.content_hash}" for p in book))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def store_source(url: str, policies: Path | None, book: PolicyBook) -> StoreSource:
    """The source of a store another process can open: a file or a server, never memory."""
    parsed = urlparse(url)
    if parsed.scheme == "memory" or (parsed.scheme == "sqlite" and ":memory:" in url):
        raise StoreError(f"{url}: a store in memory cannot be opened by other processes; "
                         "partitioned replays need an SQLite file or PostgreSQL")
    if parsed.scheme == "sqlite":
        path = store_env(url)["SQLITE_DBNAME"]
        url = "sqlite:///" + str(Path(path).resolve())
    folder = policy_folder(policies)
    return StoreSource(url, configured_cipher_key(),
                       str(Path(folder).resolve()) if folder is not None else None,
                       policy_fingerprint(book))


def open_source(source: StoreSource) -> tuple[LedgerApplication, PolicyBook]:
    """The store and policy book of a source, in this process; PolicyError when the policies
    found here are not those the source was made with."""
    from adapters.stores import chain, cipher
    from adapters.stores.events import LedgerApplication
    from adapters.stores.policy_files import load_policy_book

    book = load_policy_book(Path(source.policies) if source.policies else None)
    if policy_fingerprint(book) != source.policy_fingerprint:
        raise PolicyError(source.policies or "(shipped policies)", "(folder)",
                          "differs on this worker from the policies the command loaded")
    app = LedgerApplication(env={**store_env(source.url), **cipher.cipher_env(source.cipher_key)},
                            audit_key=chain.DEVELOPMENT_KEY)  # read-only: the key never used
    try:
        cipher.check_store(app)
    except BaseException:
        app.close()
        raise
    return app, book
