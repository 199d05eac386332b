"""`audit verify` over a deployment: every region's store audited as one store is (in
parallel), and the directory checked against the regions' own enrollments (ADR 57)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any

from attrs import frozen

from adapters.stores.deployment_files import Deployment, RegionStore
from adapters.stores.directory import CONFIRMED, LEASE_SECONDS, Directory, Holder, person_ref
from adapters.usecases.audit import Findings
from adapters.usecases.regional_queries import fan_out

#: A region's enrollments as its own views hold them: (person key, year) pairs.
Enrollments = set[tuple[str, int]]


@frozen
class RegionAuditJob:
    """One region's store to audit (picklable: it crosses to a Dask worker)."""

    prefix: str
    url: str
    policies: str | None
    #: Compare every view with its rebuild (`audit verify --views`, the default); without,
    #: the chain and the decisions only (ADR 130).
    views: bool = True


@frozen
class RegionAudit:
    """What auditing one region's store gave: its report, and the enrollments it holds."""

    prefix: str
    report: dict[str, Any]
    enrollments: frozenset[tuple[str, int]]


def enrollments_held(app: Any, views: Any, report: dict[str, Any], caught_up: bool,
                     freeze_gc: bool = False) -> Enrollments:
    """The enrollments a region's views hold once they have read the whole log: as they stand
    when the audit compared them (`caught_up`), else caught up first (ADR 130). Views that
    cannot be caught up (a damaged log, which the chain check names) are read as they stand
    and the report counts one more problem, `views_stopped`, under `enrollments`.
    `freeze_gc`: for a process of its own (a command, a Dask task), as `catch_up`'s."""
    from projections.queries import enrolled_person_years
    from projections.views import ViewsDamaged, catch_up

    if caught_up:
        return enrolled_person_years(views.engine, views.personal)
    problems: list[dict[str, Any]] = []
    try:
        position = catch_up(app, views, freeze_gc=freeze_gc)
    except ViewsDamaged as e:
        position = e.position - 1
        problems.append({"kind": "views_stopped", "position": e.position,
                         "message": f"{e}; the enrollments checked against the directory "
                                    f"are those up to position {position}"})
    held = enrolled_person_years(views.engine, views.personal)
    report["enrollments"] = {"checked": {"enrollments": len(held)}, "position": position,
                             "problems": problems}
    report["problems"] += len(problems)
    report["clean"] = report["clean"] and not problems
    return held


def audit_deployment(deployment: Deployment, directory: Directory, key: bytes,
                     audit_region: Callable[[RegionStore], RegionAudit], now: int,
                     executor: Executor | None = None) -> dict[str, Any]:
    """Each region's audit (chain, decisions, views), then the directory against them; one
    JSON-ready report, clean only when every part is."""
    audits = fan_out(deployment.regions, audit_region, executor)
    found = check_directory(deployment, directory, key, audits, now)
    problems = sum(a.report["problems"] for a in audits) + len(found.problems)
    return {"clean": problems == 0, "problems": problems,
            "regions": {a.prefix: a.report for a in audits},
            "directory": {"checked": found.checked, "problems": found.problems}}


def check_directory(deployment: Deployment, directory: Directory, key: bytes,
                    audits: Iterable[RegionAudit], now: int) -> Findings:
    """Every enrollment a region holds is confirmed for that region in the directory; every
    confirmed entry is an enrollment of its region; no person-year is enrolled in two regions;
    no reservation is left pending past its lease."""
    findings = Findings(checked={"enrollments": 0, "entries": 0})
    where: dict[tuple[str, int], list[str]] = {}
    for audit in audits:
        for person_key, year in audit.enrollments:
            where.setdefault((person_ref(key, person_key), year), []).append(audit.prefix)
    holders = directory.all_holders()
    findings.checked["enrollments"] = sum(len(v) for v in where.values())
    findings.checked["entries"] = len(holders)
    for (ref, year), regions in sorted(where.items()):
        if len(regions) > 1:
            findings.add("enrolled_twice", f"a person is enrolled for {year} in regions "
                         f"{', '.join(regions)} (不允许重复参保)", person_ref=ref, year=year)
        holder = holders.get((ref, year))
        for region in regions:
            if holder is None or holder.region != region or holder.state != CONFIRMED:
                findings.add("directory_missing", f"region {region} holds a {year} enrollment "
                             f"the directory {_says(holder)}", person_ref=ref, year=year,
                             region=region)
    for (ref, year), holder in sorted(holders.items()):
        if holder.state == CONFIRMED and holder.region not in where.get((ref, year), ()):
            findings.add("directory_orphan", f"the directory confirms a {year} enrollment in "
                         f"region {holder.region} that its store does not hold",
                         person_ref=ref, year=year, region=holder.region)
        elif holder.state != CONFIRMED and now - holder.since > LEASE_SECONDS \
                and holder.region not in where.get((ref, year), ()):
            findings.add("directory_stale", f"a {year} reservation for region "
                         f"{holder.region} was left pending (its enrollment never reached "
                         "the region's ledger)", person_ref=ref, year=year,
                         region=holder.region)
    return findings


def _says(holder: Holder | None) -> str:
    if holder is None:
        return "does not know"
    return f"gives to region {holder.region} ({holder.state})"
