"""Finding households and persons (issue 16): `benefitpool households|persons` with filters,
pages, JSON and CSV; names in `household` and `person`; the same search over HTTP for the
roles that see ID numbers; the demo's IDs to try and its kept command file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.http import create_app
from domain.policy_book import PolicyBook
from tests.e2e.test_cli import CHILD, HEAD, SPOUSE, history
from tests.support.cli import CliResult, run_cli


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    commands = tmp_path / "history.jsonl"
    commands.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in history()) + "\n",
                        encoding="utf-8")
    assert run_cli("ingest", str(commands), cwd=tmp_path).exit_code == 0
    return tmp_path


def found(folder: Path, *args: str) -> dict:
    done = run_cli(*args, "--json", cwd=folder)
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


def test_households_lists_the_household_with_its_heads_name_and_pool(folder: Path) -> None:
    page = found(folder, "households")
    assert page["total"] == 1
    assert page["rows"] == [{"head": HEAD, "year": 2021, "region": "341225", "members": 3,
                             "covered": 3, "cap": "750.00", "used": "750.00",
                             "remaining": "0.00", "claims": 2, "head_name": "张三"}]


@pytest.mark.parametrize(("filters", "total"), [
    (("--region", "3412"), 1), (("--region", "3311"), 0), (("--year", "2021"), 1),
    (("--year", "2022"), 0), (("--at-cap",), 1), (("--remaining-below", "0.01"), 1),
    (("--remaining-below", "0"), 0), (("--identity", "tekun"), 1),
    (("--identity", "dibao"), 0), (("--name", "张"), 1), (("--name", "李"), 0),
])
def test_households_are_filtered_by_each_filter(folder: Path, filters: tuple[str, ...],
                                                total: int) -> None:
    assert found(folder, "households", *filters)["total"] == total


def test_persons_of_a_year_carry_their_household_identity_pool_and_name(folder: Path) -> None:
    rows = found(folder, "persons", "--year", "2021")["rows"]
    assert [r["person"] for r in rows] == sorted([HEAD, SPOUSE, CHILD])
    child = next(r for r in rows if r["person"] == CHILD)
    assert (child["household_head"], child["identity"], child["remaining"], child["name"]) \
        == (HEAD, "tekun", "0.00", "张小")
    named = found(folder, "persons", "--year", "2021", "--name", "张")["rows"]
    assert {r["person"] for r in named} == {HEAD, CHILD}


def test_persons_come_a_page_at_a_time_with_the_next_offset_named(folder: Path) -> None:
    first = run_cli("persons", "--limit", "2", cwd=folder)
    second = found(folder, "persons", "--limit", "2", "--offset", "2")
    assert "1–2 of 3; --offset 2 for the next page" in first.stderr
    assert (second["total"], second["offset"], len(second["rows"])) == (3, 2, 1)
    everyone = found(folder, "persons")["rows"]
    assert second["rows"] == everyone[2:]
    assert {r["registered_at"] for r in everyone} == {"2020-10-01"}


def test_persons_by_identity_without_a_year_is_refused_with_exit_2(folder: Path) -> None:
    done = run_cli("persons", "--identity", "tekun", cwd=folder)
    assert done.exit_code == 2 and "invalid_input" in done.stderr and "needs a year" in done.stderr


def test_a_search_comes_as_csv_with_a_header(folder: Path) -> None:
    done = run_cli("households", "--csv", cwd=folder)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["head"], r["head_name"], r["remaining"]) for r in rows] == [(HEAD, "张三", "0.00")]


def test_household_and_person_show_the_registered_names(folder: Path) -> None:
    household = found(folder, "household", SPOUSE, "--year", "2021")
    assert household["names"] == {HEAD: "张三", SPOUSE: "李四", CHILD: "张小"}
    assert found(folder, "person", CHILD)["name"] == "张小"
    shown = run_cli("household", HEAD, "--year", "2021", cwd=folder).stdout
    assert f"{SPOUSE} 李四" in shown


@pytest.fixture
def api(folder: Path, book: PolicyBook) -> Iterator[tuple[TestClient, dict[str, str]]]:
    app = create_app(f"sqlite:///{folder / 'benefitpool.db'}", book)
    tokens = app.state.service.tokens
    secrets = {role: tokens.create(role, region, None)[0] for role, region in (
        ("auditor", ""), ("agency", "3311"), ("clinic", "3412"), ("analyst", ""))}
    with TestClient(app) as client:
        yield client, secrets
    app.state.service.close()


def get(api: tuple[TestClient, dict[str, str]], who: str, path: str) -> tuple[int, dict]:
    client, secrets = api
    answer = client.get(path, headers={"Authorization": f"Bearer {secrets[who]}"})
    return answer.status_code, answer.json()


def test_the_api_searches_as_the_command_line_does_for_a_role_that_sees_numbers(
        api: tuple[TestClient, dict[str, str]], folder: Path) -> None:
    status, body = get(api, "auditor", "/persons?year=2021&name=%E5%BC%A0")
    assert status == 200
    assert body == found(folder, "persons", "--year", "2021", "--name", "张")
    status, body = get(api, "auditor", "/households?at_cap=true")
    assert status == 200 and body == found(folder, "households", "--at-cap")


@pytest.mark.parametrize("who", ["clinic", "analyst"])
def test_roles_that_see_numbers_masked_or_none_may_not_search(
        api: tuple[TestClient, dict[str, str]], who: str) -> None:
    status, body = get(api, who, "/households")
    assert (status, body["reason"]) == (403, "forbidden")


def test_a_search_is_kept_within_the_tokens_region(
        api: tuple[TestClient, dict[str, str]]) -> None:
    status, body = get(api, "agency", "/households")
    assert status == 200 and body["total"] == 0  # the agency's region holds none
    status, body = get(api, "agency", "/households?region=3412")
    assert (status, body["reason"]) == (403, "forbidden")


def test_the_demo_keeps_its_command_file_and_names_ids_to_try(tmp_path: Path) -> None:
    done: CliResult = run_cli("demo", "--households", "30", cwd=tmp_path)
    assert done.exit_code == 0, done.stderr
    assert (tmp_path / "demo-county.jsonl").stat().st_size > 0
    tried = [line.split("#")[0].split() for line in done.stdout.splitlines()
             if line.startswith("benefitpool household ") or
             line.startswith("benefitpool person ")]
    assert tried
    for command in tried:
        assert run_cli(*command[1:], cwd=tmp_path).exit_code == 0, command
