"""A deployment of one store per pooling region on the command line (ADR 56): ingest across
regions, questions answered by the right region, reports merged, and `deployment status`."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer

from adapters import composition
from adapters.cli.cluster import replay_cluster
from adapters.cli.common import (
    DeploymentOption,
    JsonOption,
    err,
    fail,
    print_rows,
    progress_bar,
)
from adapters.stores.deployment_files import Deployment, DeploymentError
from adapters.stores.urls import StoreError, store_failures
from domain.errors import cause_of

if TYPE_CHECKING:  # the use cases are imported where used: a command loads what it needs
    from adapters.stores.directory import Directory

deployment_app = typer.Typer(no_args_is_help=True,
                             help="A deployment of one store per pooling region.")


def deployment_in_use(explicit: Path | None, db: str | None = None) -> Deployment | None:
    """The deployment `--deployment` or BENEFITPOOL_DEPLOYMENT names, or None (one store):
    the one store of `--db` when it is given without `--deployment`, the environment's
    deployment notwithstanding; both options at once are refused (ADR 131)."""
    if db is not None and explicit is not None:
        fail("invalid_input: --db names one store and --deployment a deployment of "
             "several: give one of them", 2)
    path = composition.deployment_file(explicit, db)
    if path is None:
        return None
    try:
        return composition.open_deployment(path)
    except DeploymentError as e:
        fail(str(e), 2)


def directory_of(deployment: Deployment) -> Directory:
    try:
        return composition.open_directory(deployment)
    except (StoreError, *store_failures()) as e:
        fail(f"cannot open the directory {deployment.directory}: {cause_of(e)}", 2)


@contextmanager
def cluster(workers: int | None, scheduler: str | None) -> Iterator[Executor | None]:
    """Where regions' work runs: a local Dask cluster of `--workers` processes, the scheduler
    at `--scheduler` (or DASK_SCHEDULER_ADDRESS), else (None) this process."""
    from adapters.parallel.cluster import regions_executor

    with replay_cluster(workers, scheduler) as client:
        yield None if client is None else regions_executor(client)


def ingest_deployment(deployment: Deployment, file: Path, sink: IO[str], policies: Path | None,
                      batch_size: int, workers: int | None, scheduler: str | None) -> Counter:
    """A command file applied across the deployment's regions (each in parallel)."""
    from adapters.usecases.ingest import IngestStopped, count_lines
    from adapters.usecases.regional_ingest import ingest_across

    directory = directory_of(deployment)
    work = Path(deployment.source).resolve().parent / ".ingest" if deployment.source \
        else file.resolve().parent / ".ingest"
    total = count_lines(file)
    progress = progress_bar("route")
    with cluster(workers, scheduler) as executor, progress:
        task = progress.add_task("route", total=total)
        try:
            return ingest_across(
                deployment, directory, composition.directory_key(), file, sink, work,
                composition.ingest_region, int(time.time()), executor, policies, batch_size,
                composition.enrolled_in(deployment),
                progress=lambda n: progress.advance(task, n))
        except IngestStopped as e:
            fail(e.message, 3 if e.kind == "store_failed" else 130)
        except store_failures() as e:
            fail(f"the directory failed: {cause_of(e)}; run the same command again to "
                 "continue", 3)


def store_for_person(deployment: Deployment, number: str, year: int | None) -> str:
    """The URL of the region's store that answers for a person in a year."""
    from adapters.usecases.regional_queries import region_of_person

    directory = directory_of(deployment)
    try:
        return region_of_person(deployment, directory, composition.directory_key(), number,
                                year).url
    except store_failures() as e:
        fail(f"the directory failed: {cause_of(e)}", 3)


def over_regions(deployment: Deployment, prefix: str | None, ask: Any) -> list[Any]:
    """`ask(url)` of every region under a prefix, in parallel threads (each region's store is
    its own database), answers in the deployment's order."""
    from concurrent.futures import ThreadPoolExecutor

    from adapters.usecases.regional_queries import fan_out

    regions = deployment.within(prefix)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(regions)))) as pool:
        return fan_out(regions, lambda r: ask(r.url), pool)


def audit_deployment_cli(deployment: Deployment, policies: Path | None, workers: int | None,
                         scheduler: str | None, views: bool = True) -> dict[str, Any]:
    """`audit verify` of every region's store (on Dask when asked; their views compared
    unless `views` is off) and of the directory."""
    from adapters.usecases.audit import AuditUnavailable
    from adapters.usecases.regional_audit import RegionAuditJob, audit_deployment

    directory = directory_of(deployment)
    folder = str(policies) if policies else None
    with cluster(workers, scheduler) as executor:
        try:
            return audit_deployment(
                deployment, directory, composition.directory_key(),
                lambda r: composition.audit_region(
                    RegionAuditJob(r.prefix, r.url, folder, views)),
                int(time.time()), executor)
        except AuditUnavailable as e:
            fail(str(e), 2)
        except (StoreError, *store_failures()) as e:
            fail(f"a region's store failed: {cause_of(e)}", 3)


def whatif_deployment_cli(deployment: Deployment, policies: Path | None, reform: Any,
                          patch: dict[str, Any], scope: Any, engine: str, workers: int | None,
                          scheduler: str | None, decided: tuple[Any, Any]) -> Any:
    """`whatif` of every region under the scope (on Dask when asked), merged; `decided`:
    the policies in force and the payers' behaviour."""
    from adapters.usecases.regional_whatif import RegionWhatIfJob, whatif_deployment

    folder = str(policies) if policies else None
    with cluster(workers, scheduler) as executor:
        try:
            return whatif_deployment(
                deployment, scope, engine, composition.whatif_region,
                lambda r: RegionWhatIfJob(r.prefix, r.url, folder, reform, dict(patch), scope,
                                          engine, decided[1]), executor,
                decided[0], reform, decided[1], dict(patch))
        except (StoreError, *store_failures()) as e:
            fail(f"a region's store failed: {cause_of(e)}", 3)


def views_over_regions(deployment: Deployment, policies: Path | None, names: tuple[str, ...],
                       workers: int | None, scheduler: str | None) -> list[dict[str, Any]]:
    """Every region's views rebuilt (`names`) or reported on, on Dask when asked."""
    from adapters.usecases.views import RegionViewsJob

    folder = str(policies) if policies else None
    jobs = [RegionViewsJob(r.prefix, r.url, folder, names) for r in deployment.regions]
    with cluster(workers, scheduler) as executor:
        try:
            answers = list(executor.map(composition.rebuild_region_views, jobs)) \
                if executor is not None else [composition.rebuild_region_views(j) for j in jobs]
        except (StoreError, *store_failures()) as e:
            fail(f"a region's store failed: {cause_of(e)}", 3)
    rows = [row for rows in answers for row in rows]
    for row in rows:
        if "damaged" in row:
            fail(f"region {row['region']}: {row['damaged']}", 1)
    return rows


@deployment_app.command("status")
def deployment_status(deployment_file: DeploymentOption = None,
                      json_out: JsonOption = False) -> None:
    """Each region's store and its log's length, and what the directory holds."""
    deployment = deployment_in_use(deployment_file)
    if deployment is None:
        fail("no deployment: give --deployment FILE or set BENEFITPOOL_DEPLOYMENT", 2)
    rows = []
    for region in deployment.regions:
        try:
            app = composition.open_store(region.url)
        except (StoreError, *store_failures()) as e:
            fail(f"region {region.prefix}: cannot open {region.url}: {cause_of(e)}", 2)
        try:
            rows.append({"prefix": region.prefix, "name": region.name, "store": region.url,
                         "events": app.recorder.max_notification_id() or 0})
        finally:
            app.close()
    counts = directory_of(deployment).counts()
    if json_out:
        from rich.console import Console

        Console(file=sys.stdout).print_json(data={"regions": rows, "directory": {
            "url": deployment.directory, **counts}})
        return
    print_rows(rows, f"Deployment {deployment.source}", False, False)
    err.print(f"directory {deployment.directory}: " + ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
