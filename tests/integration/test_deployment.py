"""A deployment of one store per pooling region gives the results of one store holding both,
and a person is enrolled in one region a year whichever region is asked first."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import date
from itertools import zip_longest
from pathlib import Path

import pytest

from adapters import composition
from adapters.generator import generate_county, make_resident_id
from adapters.stores.deployment_files import Deployment, RegionStore
from adapters.usecases import regional_ingest
from adapters.usecases.ingest import ingest_file
from adapters.usecases.regional_ingest import ingest_across
from tests.support.stores import stores

NOW = 1_800_000_000


def _interleaved(*counties: list[dict]) -> list[dict]:
    return [c for group in zip_longest(*counties) for c in group if c is not None]


def _write(path: Path, commands: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in commands),
                    encoding="utf-8")
    return path


def _deployment(made, folder: Path) -> Deployment:
    return Deployment((RegionStore("3412", "阜阳市", made.new("fuyang")),
                       RegionStore("3311", "丽水市", made.new("lishui"))),
                      made.new("directory"))


def _two_counties(made) -> Deployment:
    """Funan and Linquan as two regions: one policy (Fuyang 2021) holds in both."""
    return Deployment((RegionStore("341225", "阜南县", made.new("funan")),
                       RegionStore("341221", "临泉县", made.new("linquan"))),
                      made.new("directory"))


def _ingest_deployment(deployment: Deployment, path: Path, work: Path,
                       executor: Executor | None = None) -> list[dict]:
    sink = io.StringIO()
    ingest_across(deployment, composition.open_directory(deployment), b"k" * 32, path, sink,
                  work, composition.ingest_region, NOW, executor,
                  enrolled_in=composition.enrolled_in(deployment))
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def _ingest_one(url: str, path: Path) -> list[dict]:
    ledger = composition.open_ledger(url, composition.policy_book())
    try:
        sink = io.StringIO()
        ingest_file(ledger, path, sink)
        return [json.loads(line) for line in sink.getvalue().splitlines()]
    finally:
        ledger.app.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_file_spanning_two_regions_gives_the_results_of_one_store_holding_both(
        kind: str, tmp_path: Path) -> None:
    book = composition.policy_book()
    commands = _interleaved(list(generate_county(6, "fuyang-2021", 1, book)),
                            list(generate_county(6, "lishui-liandu-2020", 2, book)))
    path = _write(tmp_path / "both.jsonl", commands)
    with stores(kind, tmp_path) as made:
        alone = _ingest_one(made.new("alone"), path)
        deployed = _ingest_deployment(_deployment(made, tmp_path), path, tmp_path / "work")
    assert [r["line"] for r in deployed] == [r["line"] for r in alone]
    assert deployed == alone
    assert sum(r["status"] == "ok" for r in alone) > len(alone) * 0.8


def test_lines_parsed_ahead_on_an_executor_route_as_lines_parsed_in_turn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = composition.policy_book()
    commands = _interleaved(list(generate_county(6, "fuyang-2021", 1, book)),
                            list(generate_county(6, "lishui-liandu-2020", 2, book)))
    commands[5:5] = [{"op": "register", "person": "not an id"}, {"op": "nonsense"}]
    path = _write(tmp_path / "both.jsonl", commands)
    monkeypatch.setattr(regional_ingest, "ROUTE_CHUNK", 7)  # many chunks, several ahead
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with stores("sqlite", tmp_path / "a") as made:
        in_turn = _ingest_deployment(_deployment(made, tmp_path), path, tmp_path / "w1")
    with stores("sqlite", tmp_path / "b") as made, ThreadPoolExecutor(2) as executor:
        ahead = _ingest_deployment(_deployment(made, tmp_path), path, tmp_path / "w2",
                                   executor)
    assert len(in_turn) == len(commands) > regional_ingest.PARSED_AHEAD * 7
    assert ahead == in_turn


class _RecordingExecutor(ThreadPoolExecutor):
    """Runs what it is given, noting the order of the region jobs it is handed."""

    def __init__(self) -> None:
        super().__init__(2)
        self.regions: list[str] = []

    def map(self, fn, *iterables, **kwargs):  # noqa: ANN001, ANN201 - Executor.map's own
        jobs = list(iterables[0])
        self.regions += [j.prefix for j in jobs if hasattr(j, "prefix")]
        return super().map(fn, jobs, **kwargs)


def test_the_region_with_the_most_lines_is_ingested_first_and_results_stay_in_line_order(
        tmp_path: Path) -> None:
    book = composition.policy_book()
    commands = _interleaved(list(generate_county(2, "fuyang-2021", 1, book)),
                            list(generate_county(7, "lishui-liandu-2020", 2, book)))
    path = _write(tmp_path / "both.jsonl", commands)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with stores("sqlite", tmp_path / "a") as made:
        in_turn = _ingest_deployment(_deployment(made, tmp_path), path, tmp_path / "w1")
    with stores("sqlite", tmp_path / "b") as made, _RecordingExecutor() as executor:
        ordered = _ingest_deployment(_deployment(made, tmp_path), path, tmp_path / "w2",
                                     executor)
    assert executor.regions == ["3311", "3412"]  # Lishui's seven households before Fuyang's two
    assert ordered == in_turn
    assert [r["line"] for r in ordered] == list(range(1, len(commands) + 1))


def test_a_person_enrolled_in_one_region_is_refused_by_another_for_the_same_year(
        tmp_path: Path) -> None:
    person = "341225198001010117"
    lines = [
        {"op": "register", "person": person, "name": "张三", "region": "341225",
         "birth_date": "1980-01-01", "at": "2020-09-01T09:00:00+08:00"},
        {"op": "register", "person": person, "name": "张三", "region": "341221",
         "birth_date": "1980-01-01", "at": "2020-09-02T09:00:00+08:00"},
        {"op": "enroll", "person": person, "year": 2021, "region": "341225",
         "category": "general", "at": "2020-10-01T09:00:00+08:00"},
        {"op": "enroll", "person": person, "year": 2021, "region": "341221",
         "category": "general", "at": "2020-10-02T09:00:00+08:00"},
    ]
    with stores("sqlite", tmp_path) as made:
        deployment = _two_counties(made)
        results = _ingest_deployment(deployment, _write(tmp_path / "f.jsonl", lines),
                                     tmp_path / "work")
        counts = composition.open_directory(deployment).counts()
    assert [r["status"] for r in results] == ["ok", "ok", "ok", "rejected"]
    assert results[3]["reason"] == "enrolled_elsewhere"
    assert "341225" in results[3]["message"] and "阜南县" in results[3]["message"]
    assert counts["enrollments_confirmed"] == 1 and counts["enrollments_pending"] == 0


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_enrollments_of_one_person_in_two_regions_record_exactly_one(
        kind: str, tmp_path: Path) -> None:
    people = [make_resident_id("341225", date(1980, 1, 1), n) for n in range(1, 11)]
    with stores(kind, tmp_path) as made:
        deployment = _two_counties(made)
        files = {}
        for region, county in (("341225", "341225"), ("341221", "341221")):
            lines = []
            for p in people:
                lines.append({"op": "register", "person": p, "name": "李四", "region": county,
                              "birth_date": "1980-01-01", "at": "2020-09-01T09:00:00+08:00"})
            for p in people:
                lines.append({"op": "enroll", "person": p, "year": 2021, "region": county,
                              "category": "general", "at": "2020-10-01T09:00:00+08:00"})
            files[region] = _write(tmp_path / f"{region}.jsonl", lines)
        answers: dict[str, list[dict]] = {}
        start = threading.Barrier(2)

        def run(region: str) -> None:
            start.wait()
            answers[region] = _ingest_deployment(deployment, files[region],
                                                 tmp_path / f"work-{region}")

        threads = [threading.Thread(target=run, args=(r,)) for r in files]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = composition.open_directory(deployment).counts()
    for i, _ in enumerate(people):
        outcomes = sorted(answers[r][len(people) + i]["status"] for r in files)
        assert outcomes == ["ok", "rejected"], [answers[r][len(people) + i] for r in files]
    assert counts["enrollments_confirmed"] == len(people)


def test_a_claim_reversed_before_it_arrives_is_refused_in_a_deployment_as_in_one_store(
        tmp_path: Path) -> None:
    book = composition.policy_book()
    county = list(generate_county(3, "lishui-liandu-2020", 5, book))
    claim = next(c for c in county if c["op"] == "claim")
    early = {"op": "reverse_claim", "claim_id": claim["claim_id"], "reason": "entry_error",
             "at": "2019-12-01T09:00:00+08:00"}
    commands = [early, *county]  # the reversal comes first; the claim is Lishui's
    path = _write(tmp_path / "f.jsonl", commands)
    with stores("sqlite", tmp_path) as made:
        alone = _ingest_one(made.new("alone"), path)
        deployed = _ingest_deployment(_deployment(made, tmp_path), path, tmp_path / "work")
    assert deployed == alone
    refused = next(r for r in alone if r["line"] == commands.index(claim) + 1)
    assert refused["reason"] == "claim_reversed"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_regional_stores_give_one_stores_reports_audit_and_whatif(
        kind: str, tmp_path: Path) -> None:
    from adapters.usecases import views as use
    from adapters.usecases.regional_audit import RegionAuditJob, audit_deployment
    from adapters.usecases.regional_queries import merged_rows
    from adapters.usecases.regional_whatif import RegionWhatIfJob, whatif_deployment
    from adapters.usecases.whatif import reform_of, run_whatif
    from adapters.whatif.exact import Scope
    from projections import queries

    book = composition.policy_book()
    commands = _interleaved(list(generate_county(5, "fuyang-2021", 7, book)),
                            list(generate_county(5, "lishui-liandu-2020", 8, book)))
    path = _write(tmp_path / "both.jsonl", commands)
    patch = {"outpatient": {"ratio": "0.60"}}
    reform = reform_of(book, patch, "patch", None, None)
    with stores(kind, tmp_path) as made:
        one = made.new("alone")
        _ingest_one(one, path)
        deployment = _deployment(made, tmp_path)
        _ingest_deployment(deployment, path, tmp_path / "work")
        app = composition.open_store(one)
        views = composition.open_views(app, book, one)
        try:
            alone = {q: use.ask(app, views, q, None, None)
                     for q in (queries.fund_report, queries.enrollment_report)}
            alone_whatif = run_whatif(app, views, book, reform, patch, Scope(), "fast").summary
        finally:
            views.engine.dispose()
            app.close()
        for query, rows in alone.items():
            answers = []
            for region in deployment.regions:
                app = composition.open_store(region.url)
                views = composition.open_views(app, book, region.url)
                answers.append(use.ask(app, views, query, None, None))
                views.engine.dispose()
                app.close()
            assert merged_rows(answers, *use.REPORT_ORDER[query]) == rows
        merged = whatif_deployment(
            deployment, Scope(), "fast", composition.whatif_region,
            lambda r: RegionWhatIfJob(r.prefix, r.url, None, reform, patch, Scope(), "fast"),
            book=book, reform=reform, patch=patch)
        assert merged.summary == alone_whatif
        if kind == "sqlite":  # each region's fast engine read its own columnar store
            assert all((Path(r.url[len("sqlite:///"):]).parent / (
                Path(r.url).name + ".columnar") / "claims.duckdb").exists()
                for r in deployment.regions)
        audit = audit_deployment(
            deployment, composition.open_directory(deployment), b"k" * 32,
            lambda r: composition.audit_region(RegionAuditJob(r.prefix, r.url, None)), NOW)
    assert audit["clean"], audit["directory"]["problems"]
    assert sum(r["decisions"]["checked"]["decisions"] for r in audit["regions"].values()) > 0
