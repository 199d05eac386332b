"""The HTTP API over a deployment of two regional stores: commands reach their region's
ledger, a second region's enrollment of the same person-year is refused, questions and reports
are answered across regions, and `benefitpool serve --deployment` runs one ledger process per
region."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.http import create_deployment_app
from adapters.stores.deployment_files import Deployment, RegionStore
from tests.support.builders import HEAD, WIFE, claim, family
from tests.support.cli import run_cli
from tests.support.server import served

DEPLOYMENT = """\
directory = "sqlite:///directory.db"

[[region]]
prefix = "341225"
name = "阜南县"
store = "sqlite:///funan.db"

[[region]]
prefix = "341221"
name = "临泉县"
store = "sqlite:///linquan.db"
"""
IN_LINQUAN = {"op": "register", "person": HEAD, "name": "Head", "region": "341221",
              "at": "2020-10-02T10:00:00+08:00"}
ENROLL_LINQUAN = {"op": "enroll", "person": HEAD, "year": 2021, "region": "341221",
                  "at": "2020-10-03T10:00:00+08:00"}


@pytest.fixture
def api(tmp_path: Path, book) -> Any:
    deployment = Deployment((RegionStore("341225", "阜南县", f"sqlite:///{tmp_path}/funan.db"),
                             RegionStore("341221", "临泉县",
                                         f"sqlite:///{tmp_path}/linquan.db")),
                            f"sqlite:///{tmp_path}/directory.db")
    app = create_deployment_app(deployment, book)
    client = TestClient(app)
    secret = app.state.service.tokens.create("admin")[0]
    client.headers["Authorization"] = f"Bearer {secret}"
    yield client
    client.close()
    app.state.service.close()


def test_commands_reach_their_regions_ledger_and_a_second_regions_enrollment_is_refused(
        api: TestClient) -> None:
    answers = [api.post("/commands", json=c) for c in family()]
    assert [a.status_code for a in answers] == [200] * len(answers), [a.json() for a in answers]
    assert api.post("/commands", json=IN_LINQUAN).status_code == 200
    refused = api.post("/commands", json=ENROLL_LINQUAN)
    assert refused.status_code == 409
    assert refused.json()["reason"] == "enrolled_elsewhere"
    assert "阜南县" in refused.json()["message"]
    settled = api.post("/commands/claim", json=claim("DEP-1", WIFE, "100.00"))
    assert settled.status_code == 200 and settled.json()["status"] == "ok"
    household = api.get(f"/households/{HEAD}?year=2021").json()
    assert household["region"] == "341225" and household["used"] == settled.json()["reimbursed"]
    rows = api.get("/reports/enrollment?year=2021").json()
    # Linquan holds a registration and no enrollment for 2021: no rows of zeros (ADR 75)
    assert {r["region"] for r in rows} == {"341225"}
    health = api.get("/health").json()
    assert set(health["regions"]) == {"341225", "341221"}
    assert health["regions"]["341221"]["position"] > 0  # the registration in Linquan


def test_a_refused_enrollment_releases_its_reservation_for_another_region(
        api: TestClient) -> None:
    for c in family()[:1] + [IN_LINQUAN]:
        assert api.post("/commands", json=c).status_code == 200
    bad = {"op": "enroll", "person": HEAD, "year": 2031, "region": "341225",
           "at": "2030-10-01T10:00:00+08:00"}  # no policy for 2031
    assert api.post("/commands", json=bad).json()["reason"] == "no_policy"
    directory = api.app.state.service.directory
    assert directory.counts()["enrollments_pending"] == 0


def test_the_deployments_audit_with_and_without_views_checks_the_directory_alike(
        api: TestClient) -> None:
    for c in [*family(), IN_LINQUAN, claim("DEP-2", WIFE, "40.00")]:
        assert api.post("/commands", json=c).status_code == 200
    full = api.get("/audit/verify").json()
    lean = api.get("/audit/verify?views=false").json()
    assert full["clean"] and lean["clean"]
    assert full["directory"] == lean["directory"]
    assert full["directory"]["checked"]["enrollments"] == 2
    for prefix, region in lean["regions"].items():
        assert "views" not in region and "views" in full["regions"][prefix]
        assert region["decisions"] == full["regions"][prefix]["decisions"]
        assert region["enrollments"]["position"] == region["position"]
    refused = api.get("/audit/verify?at_position=3")
    assert refused.status_code == 422 and refused.json()["reason"] == "invalid_input"


def test_benefitpool_serve_with_a_deployment_runs_a_ledger_process_per_region(
        tmp_path: Path) -> None:
    (tmp_path / "deployment.toml").write_text(DEPLOYMENT, encoding="utf-8")
    made = run_cli("token", "create", "--role", "admin", "--deployment", "deployment.toml",
                   cwd=tmp_path)
    assert made.exit_code == 0, made.output
    headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENEFITPOOL_")}
    with served(tmp_path, ["--deployment", "deployment.toml"], env) as (base, server):
        for c in family()[:3] + [IN_LINQUAN]:
            answer = httpx.post(f"{base}/commands", json=c, headers=headers)
            assert answer.status_code == 200, answer.text
        refused = httpx.post(f"{base}/commands", json=ENROLL_LINQUAN, headers=headers)
        assert refused.json()["reason"] == "enrolled_elsewhere"
        assert "writer" not in httpx.get(f"{base}/health").json()["regions"]["341225"]
        health = httpx.get(f"{base}/health", headers=headers).json()
        assert health["regions"]["341225"]["writer"]["commands"] == 3
        assert health["regions"]["341221"]["writer"]["commands"] == 1
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


def test_benefitpool_serve_with_db_serves_that_store_where_the_environment_names_a_deployment(
        tmp_path: Path) -> None:
    (tmp_path / "deployment.toml").write_text(DEPLOYMENT, encoding="utf-8")
    made = run_cli("token", "create", "--role", "admin", "--db", "sqlite:///one.db",
                   cwd=tmp_path, env={"BENEFITPOOL_DEPLOYMENT": "deployment.toml"})
    assert made.exit_code == 0, made.output
    headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENEFITPOOL_")}
    env["BENEFITPOOL_DEPLOYMENT"] = "deployment.toml"
    with served(tmp_path, ["--db", "sqlite:///one.db"], env) as (base, server):
        for c in family()[:2]:
            answer = httpx.post(f"{base}/commands", json=c, headers=headers)
            assert answer.status_code == 200, answer.text
        health = httpx.get(f"{base}/health", headers=headers).json()
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "regions" not in health and health["position"] > 0, health
    assert not (tmp_path / "funan.db").exists() and not (tmp_path / "directory.db").exists()
    assert "Traceback" not in output, output
