"""The HTTP API on a real SQLite file, through FastAPI's test client: the same results as the
command file, tokens on every endpoint, masked ID numbers, no 500 for bad input, idempotent
re-sends and concurrent claims."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.composition import open_ledger
from adapters.generator import write_county
from adapters.http import create_app
from adapters.http.masking import mask_ids
from adapters.server.logs import MaskIDs, log_config
from tests.support.builders import FAMILY_AT, HEAD, WIFE, claim, family, make_id
from tests.support.cli import run_cli
from tests.support.oracles import household_view
from tests.support.server import served
from tests.support.stores import Stores, stores

TOKENS = {
    "admin": ("admin", ""),
    "clinic": ("clinic", "3412"), "clinic_far": ("clinic", "3301"),
    "agency": ("agency", "341225"), "agency_far": ("agency", "330102"),
    "auditor": ("auditor", ""), "auditor_fy": ("auditor", "3412"),
    "auditor_far": ("auditor", "3301"),
    "analyst": ("analyst", "3412"), "analyst_far": ("analyst", "3301"),
}
ROLES = ("clinic", "agency", "auditor", "analyst", "admin")
#: A token of each role whose region covers Funan (341225), and one whose region does not.
NEAR = {"clinic": "clinic", "agency": "agency", "auditor": "auditor", "analyst": "analyst",
        "admin": "admin"}
FAR = {"clinic": "clinic_far", "agency": "agency_far", "auditor": "auditor_far",
       "analyst": "analyst_far"}
RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")


class Api:
    """An app on a store (a SQLite file, a PostgreSQL schema), a client, and a token of every
    kind."""

    def __init__(self, url: str, book: Any, ledger_address: str | None = None) -> None:
        self.url = url
        self.app = create_app(self.url, book, ledger_address=ledger_address)
        self.client = TestClient(self.app)
        if ledger_address is not None:  # one event loop for the app's life, as in a server
            self.client.__enter__()
        store = self.app.state.service.tokens
        self.tokens = {k: store.create(role, region)[0] for k, (role, region) in TOKENS.items()}

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def post(self, path: str, body: Any, who: str = "admin") -> Any:
        return self.client.post(path, json=body, headers=self.headers(who))

    def get(self, path: str, who: str = "admin") -> Any:
        return self.client.get(path, headers=self.headers(who))

    def command(self, body: dict[str, Any], who: str = "admin") -> dict[str, Any]:
        return self.post("/commands", body, who).json()

    def close(self) -> None:
        if self.app.state.service.remote is not None:
            self.client.__exit__(None, None, None)
        self.client.close()
        self.app.state.service.close()


def with_family(api: Api) -> Api:
    for command in [*family(), claim("C-1", WIFE, "1000.00")]:
        assert api.command(command)["status"] == "ok", command
    return api


@pytest.fixture
def api(store_url: str, book) -> Iterator[Api]:
    a = with_family(Api(store_url, book))
    yield a
    a.close()


@pytest.fixture(scope="module")
def shared(module_stores: Stores, book) -> Iterator[Api]:
    a = with_family(Api(module_stores.new("http"), book))
    yield a
    a.close()


def without_line(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "line"}


# --- the same results as the command file -----------------------------------------------------


def test_a_history_sent_over_http_gives_the_results_of_the_same_file(
        tmp_path: Path, new_store: Callable[[str], str], book) -> None:
    path = tmp_path / "county.jsonl"
    write_county(path, 12, "fuyang-2021", 3)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[5:5] = ['{"op": "claim", "claim_id": 7}', '{"op": "teleport", "at": "2021-01-01"}',
                  json.dumps({**json.loads(lines[0]), "name": ""})]
    ledger = open_ledger(new_store("file"), book)
    by_file = [without_line(r) for r in ledger.execute_lines(lines)]
    api = Api(new_store("http"), book)
    try:
        by_http = []
        for line in lines:
            response = api.client.post("/commands", content=line.encode("utf-8"),
                                       headers=api.headers("admin"))
            body = response.json()
            assert (response.status_code == 200) == (body["status"] == "ok")
            assert response.status_code < 500
            by_http.append(body)
        assert by_http == by_file
        assert sum(r["status"] == "rejected" for r in by_http) >= 3
        heads = {r["household_head"] for r in by_file if r["op"] == "enroll"
                 and r["status"] == "ok"}
        for head in sorted(heads)[:5]:
            view = api.get(f"/households/{head}?year=2021").json()
            assert (view.pop("clock"), view.pop("at_position")) == ("latest", None)  # ADR 68
            assert view == household_view(ledger, head, 2021)
    finally:
        api.close()
        ledger.app.close()


def test_a_history_over_http_on_postgresql_equals_the_same_file_on_sqlite(
        tmp_path: Path, book) -> None:
    path = tmp_path / "county.jsonl"
    write_county(path, 15, "gaizhou-2025", 11)
    lines = path.read_text(encoding="utf-8").splitlines()
    sqlite = open_ledger(f"sqlite:///{tmp_path / 'file.db'}", book)
    by_file = [without_line(r) for r in sqlite.execute_lines(lines)]
    with stores("postgresql", tmp_path) as made:
        api = Api(made.new("served"), book)
        try:
            by_http = [api.client.post("/commands", content=line.encode("utf-8"),
                                       headers=api.headers("admin")).json() for line in lines]
            assert by_http == by_file
            for report in ("fund", "enrollment"):
                served = api.get(f"/reports/{report}?year=2025").json()
                assert served and served == _report_from(sqlite, tmp_path, report)
        finally:
            api.close()
    sqlite.app.close()


def _report_from(ledger, folder: Path, name: str) -> Any:
    from adapters.composition import open_views
    from projections import queries
    from projections.views import catch_up

    views = open_views(ledger.app, ledger.policies, f"sqlite:///{folder / 'file.db'}")
    catch_up(ledger.app, views)
    query = queries.fund_report if name == "fund" else queries.enrollment_report
    try:
        return query(views.engine, year=2025)
    finally:
        views.engine.dispose()


def test_results_carry_the_statuses_of_their_reasons(api: Api) -> None:
    again = api.post("/commands/register", family()[0])
    assert again.status_code == 409 and again.json()["reason"] == "already_registered"
    nobody = api.post("/commands/pay", {"person": make_id("341225", "19700101", 5), "year": 2021,
                                        "amount": "1.00", "channel": "cash",
                                        "payment_ref": "N-1", "at": FAMILY_AT})
    assert nobody.status_code == 404 and nobody.json()["reason"] == "unknown_person"
    late = api.post("/commands/claim", {**claim("L-1", HEAD, "10.00"), "op": "claim",
                                        "facility_level": 3})
    assert late.status_code == 422 and late.json()["reason"] == "facility_not_eligible"
    early = api.post("/commands/reverse_claim",
                     {"claim_id": "never", "reason": "typo", "at": FAMILY_AT})
    assert early.status_code == 200 and early.json()["withdrawn"] is True
    refused = api.post("/commands/claim", {**claim("never", HEAD, "10.00"), "op": "claim"})
    assert refused.status_code == 409 and refused.json()["reason"] == "claim_reversed"
    assert api.get(f"/households/{HEAD}?year=2020").status_code == 404
    nobody = api.get(f"/persons/{make_id('341225', '19700101', 5)}")
    assert nobody.status_code == 404 and nobody.json()["reason"] == "unknown_person"


def test_queries_reports_whatif_and_audit_answer_as_the_cli_does(api: Api) -> None:
    household = api.get(f"/households/{WIFE}?year=2021").json()
    assert household["head"] == HEAD and household["used"] == "500.00"
    assert household["members"] == [HEAD, WIFE]
    assert api.get(f"/households/{HEAD}?year=2021&as_of=2021-02-01").json()["used"] == "0.00"
    person = api.get(f"/persons/{WIFE}").json()
    assert person["year"] == 2021 and person["reimbursed"] == "500.00"
    fund = api.get("/reports/fund?year=2021").json()
    assert {(r["item"], r["key"]) for r in fund} >= {("contribution", "cash")}
    assert api.get("/reports/enrollment?region=3412").json()[0]["region"] == "341225"
    whatif = api.post("/whatif?region=3412&year=2021", {"outpatient": {"ratio": "0.30"}},
                      "analyst").json()
    assert whatif["baseline_reimbursed"] == "500.00"
    assert whatif["reform_reimbursed"] == "300.00"
    if api.url.startswith("sqlite:///"):  # the fast engine read the store's columnar store
        assert Path(api.url[len("sqlite:///"):] + ".columnar", "claims.duckdb").exists()
    money = api.get(f"/persons/{WIFE}/money?year=2021").json()
    assert [(e["kind"], e["amount"]) for e in money["entries"]] == [
        ("enrolled", "280.00"), ("payment", "280.00")]
    assert money["entries"][1]["channel"] == "cash" and money["entries"][1]["payer"] == WIFE
    raised = api.post("/whatif?region=3412&year=2021&take_up_elasticity=-0.2&seed=4",
                      {"contribution": {"individual": "300.00"}}, "analyst").json()
    assert raised["behaviour"] == "pay-new-due" and raised["take_up_elasticity"] == "-0.2"
    assert raised["fund_flows"]["baseline"]["reimbursed"] == "500.00"
    assert raised["by_region"][0]["region"] == "341225"
    audit = api.get("/audit/verify", "auditor").json()
    assert audit["clean"] is True and audit["views"]["checked"]["views"] == 5
    trail = api.get(f"/audit/trail/{HEAD}?year=2021", "auditor").json()
    assert trail["scope"] == "household" and trail["entries"]
    assert api.client.get("/health").json()["status"] == "ok"


def test_openapi_is_served_without_a_token_and_lists_every_op(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    from domain.commands import OPS

    assert {f"/commands/{op}" for op in OPS} <= set(document["paths"])
    assert {"/commands", "/households/{person}", "/persons/{person}", "/reports/fund",
            "/reports/enrollment", "/whatif", "/audit/verify", "/health"} <= set(
        document["paths"])
    assert "HTTPBearer" in document["components"]["securitySchemes"]


# --- tokens on every endpoint ----------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    body: Callable[[int], Any] | None
    roles: frozenset[str]
    regional: bool = True


_n = iter(range(1, 10**6))
AT = FAMILY_AT
AGENCY = frozenset({"agency", "admin"})
CLINIC = frozenset({"clinic", "admin"})
LOOKUP = frozenset({"clinic", "agency", "auditor", "admin"})
REPORT = frozenset({"auditor", "analyst", "admin"})
AUDIT = frozenset({"auditor", "admin"})
SEARCH = frozenset({"agency", "auditor", "admin"})


def _claim_body(n: int) -> dict[str, Any]:
    body = claim(f"T-{n}", HEAD, "1.00")
    body.pop("op")
    return body


ENDPOINTS = [
    Endpoint("register", "POST", "/commands/register", lambda n: {
        "person": make_id("341225", "19900101", n % 1000), "name": "新", "region": "341225",
        "at": AT}, AGENCY),
    Endpoint("report_employee_insurance", "POST", "/commands/report_employee_insurance",
             lambda n: {"person": WIFE, "year": 2030, "at": AT}, AGENCY),
    Endpoint("recognise_identity", "POST", "/commands/recognise_identity", lambda n: {
        "person": WIFE, "year": 2031, "identity": "dibao", "region": "341225", "at": AT},
        AGENCY),
    Endpoint("enroll", "POST", "/commands/enroll", lambda n: {
        "person": WIFE, "year": 2022, "region": "341225", "at": "2021-10-01"}, AGENCY),
    Endpoint("pay", "POST", "/commands/pay", lambda n: {
        "person": HEAD, "year": 2021, "amount": "1.00", "channel": "cash",
        "payment_ref": f"T-{n}", "at": AT}, AGENCY),
    Endpoint("grant_subsidy", "POST", "/commands/grant_subsidy", lambda n: {
        "person": HEAD, "year": 2021, "identity": "dibao", "at": AT}, AGENCY),
    Endpoint("refund", "POST", "/commands/refund", lambda n: {
        "person": HEAD, "year": 2021, "reason": "other", "amount": "0.01", "at": AT}, AGENCY),
    Endpoint("claim", "POST", "/commands/claim", _claim_body, CLINIC),
    Endpoint("quote", "POST", "/commands/quote", _claim_body, CLINIC),
    Endpoint("reverse_claim", "POST", "/commands/reverse_claim", lambda n: {
        "claim_id": "C-1", "reason": "entered twice", "at": "2021-03-02"}, CLINIC),
    Endpoint("command", "POST", "/commands", lambda n: {"op": "claim", **_claim_body(n)},
             CLINIC),
    Endpoint("household", "GET", f"/households/{HEAD}?year=2021", None, LOOKUP),
    Endpoint("person", "GET", f"/persons/{WIFE}?year=2021", None, LOOKUP),
    Endpoint("person_money", "GET", f"/persons/{WIFE}/money?year=2021", None, LOOKUP),
    Endpoint("search_households", "GET", "/households?region=341225&year=2021", None, SEARCH),
    Endpoint("search_persons", "GET", "/persons?region=341225&year=2021", None, SEARCH),
    Endpoint("report_fund", "GET", "/reports/fund?region=341225&year=2021", None, REPORT),
    Endpoint("report_enrollment", "GET", "/reports/enrollment?region=341225", None, REPORT),
    Endpoint("whatif", "POST", "/whatif?region=341225&year=2021",
             lambda n: {"outpatient": {"ratio": "0.60"}}, frozenset({"analyst", "admin"})),
    Endpoint("shadows", "GET", "/shadows", None, frozenset({"analyst", "admin"}),
             regional=False),
    Endpoint("shadow_report", "GET", "/shadows/cap", None, frozenset({"analyst", "admin"}),
             regional=False),
    Endpoint("audit_verify", "GET", "/audit/verify?views=false", None, AUDIT),
    Endpoint("audit_trail", "GET", f"/audit/trail/{HEAD}?year=2021", None, AUDIT),
    Endpoint("whoami", "GET", "/whoami", None, frozenset(ROLES), regional=False),
]


def call(api: Api, e: Endpoint, headers: dict[str, str]) -> Any:
    if e.method == "GET":
        return api.client.get(e.path, headers=headers)
    return api.client.post(e.path, json=e.body(next(_n)), headers=headers)


def test_the_table_of_endpoints_covers_every_route_but_health(shared: Api) -> None:
    documented = {(method.upper(), path) for path, item in
                  shared.client.get("/openapi.json").json()["paths"].items() for method in item}
    tested = {(e.method, e.path.split("?")[0]) for e in ENDPOINTS}
    tested = {(m, p.replace(HEAD, "{person}").replace(WIFE, "{person}")
               .replace("/shadows/cap", "/shadows/{name}")) for m, p in tested}
    assert documented - tested == {("GET", "/health")}


@pytest.mark.parametrize("e", ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_refuses_a_request_without_a_valid_token_with_401(shared: Api,
                                                                          e: Endpoint) -> None:
    for headers in ({}, {"Authorization": "Bearer bp_not-a-token"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        response = call(shared, e, headers)
        assert response.status_code == 401, (headers, response.text)
        body = response.json()
        assert body["reason"] == "unauthorized" and body["message"]
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("e", ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_refuses_other_roles_with_403(shared: Api, e: Endpoint) -> None:
    for role in ROLES:
        response = call(shared, e, shared.headers(NEAR[role]))
        if role in e.roles:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["reason"] == "forbidden"


@pytest.mark.parametrize("e", [e for e in ENDPOINTS if e.regional], ids=lambda e: e.name)
def test_every_endpoint_refuses_a_token_of_another_region_with_403(shared: Api,
                                                                   e: Endpoint) -> None:
    for role in sorted(e.roles - {"admin"}):
        response = call(shared, e, shared.headers(FAR[role]))
        assert response.status_code == 403, (role, response.text)
        assert response.json()["reason"] == "forbidden"


def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    store = api.app.state.service.tokens
    secret, token = store.create("clinic", "341225")
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.client.get("/whoami", headers=headers).json()["id"] == token.id
    store.revoke(token.id)
    assert api.client.get("/whoami", headers=headers).status_code == 401


def test_an_audit_of_the_whole_ledger_needs_an_auditor_of_every_region(api: Api) -> None:
    assert api.get("/audit/verify?views=false", "auditor_fy").status_code == 403
    assert api.get("/audit/verify?views=false", "auditor").status_code == 200


def test_reports_and_whatif_default_to_the_tokens_region(api: Api) -> None:
    assert {r["region"] for r in api.get("/reports/enrollment", "analyst").json()} == {"341225"}
    assert api.get("/reports/enrollment", "analyst_far").json() == []
    assert api.get("/reports/fund?region=34", "analyst").status_code == 403
    far = api.post("/whatif", {"outpatient": {"ratio": "0.60"}}, "analyst_far")
    assert far.status_code == 422 and far.json()["reason"] == "no_policy"


def test_a_claim_is_in_the_region_of_its_facility(api: Api) -> None:
    elsewhere = {**claim("F-1", HEAD, "10.00"), "facility_region": "330102"}
    refused = api.post("/commands", elsewhere, "clinic")
    assert refused.status_code == 403
    allowed = api.post("/commands", elsewhere, "clinic_far")
    assert allowed.status_code == 422 and allowed.json()["reason"] == "out_of_county"
    assert api.get(f"/households/{HEAD}?year=2021", "clinic_far").status_code == 403


# --- masked ID numbers -------------------------------------------------------------------------


def test_a_clinic_sees_the_number_it_sent_and_other_members_masked(api: Api) -> None:
    view = api.get(f"/households/{WIFE}?year=2021", "clinic").json()
    masked_head = HEAD[:6] + "********" + HEAD[-4:]
    assert view["head"] == masked_head
    assert view["members"] == [masked_head, WIFE]
    assert [c["person"] for c in view["claims"]] == [WIFE]
    person = api.get(f"/persons/{WIFE}", "clinic").json()
    assert person["person"] == WIFE and person["household_head"] == masked_head
    assert HEAD not in json.dumps(person) + json.dumps(view)


@pytest.mark.parametrize("who", ["agency", "auditor", "admin"])
def test_agencies_auditors_and_admins_see_every_number_in_full(api: Api, who: str) -> None:
    view = api.get(f"/households/{WIFE}?year=2021", who).json()
    assert view["head"] == HEAD and view["members"] == [HEAD, WIFE]


def test_analysts_read_the_shadow_rules_of_their_region(api: Api) -> None:
    from adapters.stores.shadows import ShadowStore
    from adapters.usecases.shadow import add_shadow

    service = api.app.state.service
    shadows = ShadowStore(service.views.engine)
    add_shadow(service.store, shadows, service.book, "cap", {"outpatient": {"ratio": "0.30"}},
               "patch", "3412", 2021)
    assert api.command(claim("C-SHADOW", HEAD, "40.00"))["status"] == "ok"
    assert [s["name"] for s in api.get("/shadows", "analyst").json()] == ["cap"]
    assert api.get("/shadows", "analyst_far").json() == []
    answer = api.get("/shadows/cap", "analyst")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["totals"]["claims_decided"] == 1
    assert report["window"]["to_position"] > report["shadow"]["added_position"]
    assert not RESIDENT_ID.search(answer.text)
    far = api.get("/shadows/cap", "analyst_far")
    assert far.status_code == 403 and far.json()["reason"] == "forbidden"
    unknown = api.get("/shadows/nothing", "analyst")
    assert unknown.status_code == 404 and unknown.json()["reason"] == "unknown_shadow"


def test_an_analyst_never_sees_an_id_number(api: Api) -> None:
    texts = [api.get("/reports/fund", "analyst").text,
             api.get("/reports/enrollment", "analyst").text,
             api.post("/whatif", {"outpatient": {"ratio": "0.60"}}, "analyst").text]
    assert not any(RESIDENT_ID.search(t) for t in texts)


def test_masking_covers_document_numbers_in_id_fields_and_resident_ids_in_text() -> None:
    result = {"person": "E12345678", "message": f"{HEAD} and {WIFE} met",
              "members": [HEAD, WIFE], "claims": [{"person": WIFE, "claim_id": "x"}]}
    masked = mask_ids(result, frozenset({WIFE}))
    assert masked["person"] == "E******78"
    assert masked["message"] == f"{HEAD[:6]}********{HEAD[-4:]} and {WIFE} met"
    assert masked["members"][1] == WIFE and masked["claims"][0]["person"] == WIFE


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Every record of the API's and uvicorn's loggers, through the masking filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskIDs())
    names = ("benefitpool", "uvicorn.access", "uvicorn.error")
    saved = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate) for n in names}
    for n in names:
        logging.getLogger(n).addHandler(handler)
        logging.getLogger(n).setLevel(logging.INFO)
    yield stream
    for n in names:
        logging.getLogger(n).removeHandler(handler)
        logging.getLogger(n).setLevel(saved[n][0])


def test_logs_never_show_an_id_number_unmasked(api: Api, log_stream: io.StringIO) -> None:
    api.post("/commands/claim", _claim_body(9001), "clinic")
    api.post("/commands/register", family()[0], "agency")
    from uvicorn.logging import AccessFormatter

    access = logging.getLogger("uvicorn.access")
    access.handlers[-1].setFormatter(AccessFormatter(
        '%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                f"/persons/{HEAD}?year=2021", "1.1", 200)
    try:
        raise ValueError(f"no such person {WIFE}")
    except ValueError:
        logging.getLogger("benefitpool.http").exception("failed for %s", HEAD)
    text = log_stream.getvalue()
    assert "claim" in text and "/persons/341225********" in text
    assert HEAD not in text and WIFE not in text
    assert HEAD[:6] + "********" + HEAD[-4:] in text


def test_the_servers_log_configuration_masks_on_every_handler() -> None:
    config = log_config("info")
    assert config["filters"]["mask_ids"]["()"] == "adapters.server.logs.MaskIDs"
    assert all("mask_ids" in h["filters"] for h in config["handlers"].values())
    assert config["loggers"]["benefitpool"]["handlers"]


# --- never a 500 for bad input ---------------------------------------------------------------


BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("/commands", b"{not json", 400),
    ("/commands", b"", 400),
    ("/commands", b"[1, 2]", 400),
    ("/commands", b'"claim"', 400),
    ("/commands", b"\xff\xfe\x00", 400),
    ("/commands", b'{"op": "claim", "op": "quote"}', 400),
    ("/commands", b'{"op": "pay", "amount": NaN}', 400),
    ("/commands", b'{"op": "teleport"}', 422),
    ("/commands", b'{"op": 7}', 422),
    ("/commands", b"{}", 422),
    ("/commands/pay", b'{"person": 7, "year": "2021"}', 422),
    ("/commands/pay", json.dumps({"person": HEAD, "year": 2021, "amount": 280,
                                  "channel": "cash", "payment_ref": "x",
                                  "at": AT}).encode(), 422),
    ("/commands/claim", json.dumps({**claim("B-1", HEAD, "1.00"), "extra": 1}).encode(), 422),
    ("/commands/claim", json.dumps({**claim("B-1", HEAD, "1.00"), "op": "quote"}).encode(),
     422),
    ("/commands/register", b'{"person": "341225198001010118", "name": "x", '
                           b'"region": "341225", "at": "2020-01-01"}', 422),
    ("/commands/claim", b'{"claim_id": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
    ("/commands", b" " * 70_000 + b"{}", 413),
    ("/commands", b"x" * (2**20), 413),
    ("/whatif", b'{"outpatient": 5}', 422),
    ("/whatif", b'{"outpatient": {"ratio": "abc"}}', 422),
    ("/whatif", b'{"outpatient": {"ratio": 7.5}}', 422),
    ("/whatif", b"{}", 422),
    ("/whatif", b'{"contribution": {"individual": [1, {"a": null}]}}', 422),
    ("/whatif?take_up_elasticity=much", b'{"contribution": {"individual": "300.00"}}', 422),
    ("/whatif?take_up_elasticity=-0.2&behaviour=recorded",
     b'{"contribution": {"individual": "300.00"}}', 422),
    ("/whatif?behaviour=sometimes", b'{"contribution": {"individual": "300.00"}}', 422),
]


@pytest.mark.parametrize("path,body,status", BAD_BODIES,
                         ids=[f"{i}-{p}" for i, (p, _, _) in enumerate(BAD_BODIES)])
def test_a_malformed_body_is_refused_with_a_reason_never_a_500(shared: Api, path: str,
                                                               body: bytes, status: int) -> None:
    response = shared.client.post(path, content=body, headers=shared.headers("admin"))
    assert response.status_code == status, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["reason"] and response.json()["message"]


BAD_QUERIES = [
    f"/households/{HEAD}", f"/households/{HEAD}?year=abc", f"/households/{HEAD}?year=1999",
    f"/households/{HEAD}?year=2021&as_of=2021-02-30", f"/households/{HEAD}?year=2021&as_of=x",
    f"/households/{HEAD}?year=2021&at_position=-1", "/households/%00?year=2021",
    "/households/" + "9" * 5000 + "?year=2021", f"/persons/{HEAD}?year=20x1",
    "/persons/341225198001010118", "/persons/%20", "/reports/fund?region=abc",
    "/reports/fund?year=99999999999999999999", "/whatif", "/nowhere", "/audit/verify?views=maybe",
    f"/audit/trail/{HEAD}", "/commands/teleport",
]


@pytest.mark.parametrize("path", BAD_QUERIES)
def test_a_malformed_query_is_refused_with_a_reason_never_a_500(shared: Api, path: str) -> None:
    response = shared.client.get(path, headers=shared.headers("admin"))
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["reason"] and response.json()["message"]


# --- idempotence and concurrency ------------------------------------------------------------


def decision(result: dict[str, Any]) -> dict[str, Any]:
    """A claim's result without what tells a re-send apart: its message and `duplicate`."""
    return {k: v for k, v in result.items() if k not in ("message", "duplicate")}


def test_a_resent_claim_returns_the_original_decision(api: Api) -> None:
    api.post("/commands/reverse_claim", {"claim_id": "C-1", "reason": "test", "at": AT})
    first = api.post("/commands/claim", _claim_body(1), "clinic").json()
    again = api.post("/commands/claim", _claim_body(1), "clinic").json()
    assert first["reimbursed"] == "0.55" and again["duplicate"] is True
    assert decision(again) == decision(first)
    changed = api.post("/commands/claim", {**_claim_body(1), "expense": "2.00"}, "clinic")
    assert changed.status_code == 409 and changed.json()["reason"] == "duplicate_claim_conflict"


def test_resends_at_the_same_instant_all_return_the_original_decision(api: Api) -> None:
    api.post("/commands/reverse_claim", {"claim_id": "C-1", "reason": "test", "at": AT})
    body = {**_claim_body(77), "expense": "100.00"}

    def send(_: int) -> dict[str, Any]:
        return api.post("/commands/claim", body, "clinic").json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, range(24)))
    decisions = {json.dumps(decision(r), sort_keys=True) for r in results}
    assert len(decisions) == 1 and results[0]["reimbursed"] == "55.00"
    assert sum(1 for r in results if not r.get("duplicate")) == 1
    claims = api.get(f"/households/{HEAD}?year=2021").json()["claims"]
    assert [c["claim_id"] for c in claims].count("T-77") == 1


def test_concurrent_claims_from_two_servers_never_overspend_the_household_pool(
        store_url: str, book) -> None:
    """Two servers (each its own ledger, as two processes would be) on one store; 200
    claims of the two members at once, from threads. A client resends a claim refused for
    lasting conflicts, as the contract allows."""
    one = Api(store_url, book)
    two = Api(store_url, book)
    try:
        for command in family():
            assert one.command(command)["status"] == "ok"
        bodies = [{**claim(f"K-{i}", (HEAD, WIFE)[i % 2], f"{10 + (i * 37) % 90}.00")}
                  for i in range(200)]
        local = threading.local()

        def send(i: int) -> dict[str, Any]:
            server = (one, two)[i % 2]
            if not hasattr(local, "clients"):
                local.clients = (TestClient(one.app), TestClient(two.app))
            client = local.clients[i % 2]
            for _ in range(10):
                result = client.post("/commands/claim", json=bodies[i],
                                     headers=server.headers("clinic")).json()
                if result.get("reason") != "conflict":
                    return result
            return result

        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(send, range(200)))
        assert all(r["status"] == "ok" for r in results), [r for r in results
                                                            if r["status"] != "ok"][:3]
        reimbursed = sum(Decimal(r["reimbursed"]) for r in results)
        reimbursable = sum(Decimal(r["reimbursable"]) for r in results)
        household = two.get(f"/households/{HEAD}?year=2021").json()
        cap = Decimal(household["cap"])
        assert reimbursed == Decimal(household["used"]) == min(cap, reimbursable)
        ids = [c["claim_id"] for c in household["claims"]]
        assert sorted(ids) == sorted(b["claim_id"] for b in bodies)
        # In settlement order every claim saw exactly what the ones before it had used.
        used = Decimal(0)
        for r in sorted(results, key=lambda r: Decimal(r["pool_used_before"])):
            if Decimal(r["reimbursed"]) == 0:
                continue
            assert Decimal(r["pool_used_before"]) == used
            used += Decimal(r["reimbursed"])
        assert used == reimbursed
    finally:
        one.close()
        two.close()


# --- the server itself -----------------------------------------------------------------------


def test_benefitpool_serve_answers_over_http_and_its_log_masks_id_numbers(
        tmp_path: Path, store_url: str) -> None:
    import os

    import httpx

    made = run_cli("token", "create", "--role", "clinic", "--region", "3412", "--db", store_url,
                   cwd=tmp_path)
    assert made.exit_code == 0, made.stderr
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("BENEFITPOOL_DB", None)
    headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
    admin_token = run_cli("token", "create", "--role", "admin", "--db", store_url, cwd=tmp_path)
    admin = {"Authorization": f"Bearer {admin_token.stdout.strip()}"}
    with served(tmp_path, ['--db', store_url], env) as (base, server):
        assert httpx.get(f"{base}/openapi.json").status_code == 200
        assert httpx.get(f"{base}/persons/{HEAD}").status_code == 401
        unknown = httpx.get(f"{base}/persons/{HEAD}", headers=headers)
        assert unknown.status_code == 404 and unknown.json()["reason"] == "unknown_person"
        # a command goes through the server's ledger process and comes back decided
        claimed = httpx.post(f"{base}/commands/claim", json=claim("E2E-1", HEAD, "10.00"),
                             headers=headers)
        assert claimed.status_code == 404 and claimed.json()["reason"] == "unknown_person"
        assert "writer" not in httpx.get(f"{base}/health", headers=headers).json()
        assert httpx.get(f"{base}/health", headers=admin).json()["writer"]["commands"] == 1
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert f"/persons/{HEAD[:6]}********{HEAD[-4:]}" in output
    assert HEAD not in output


def test_every_op_resent_after_a_lost_answer_under_its_command_id_records_once(
        store_url: str, book) -> None:
    from tests.support.builders import family_with_ids, with_ids

    api = Api(store_url, book)
    try:
        commands = with_ids(family_with_ids())
        first = [api.post(f"/commands/{c['op']}", c) for c in commands]
        head = api.app.state.service.store.recorder.max_notification_id()
        again = [api.post(f"/commands/{c['op']}", c) for c in commands]
        assert [r.status_code for r in first] == [200] * len(commands), [r.json() for r in first]
        assert [r.status_code for r in again] == [200] * len(commands)
        assert [r.json()["duplicate"] for r in again] == [True] * len(commands)
        assert [{k: v for k, v in r.json().items() if k != "duplicate"} for r in again] == \
            [r.json() for r in first]
        assert api.app.state.service.store.recorder.max_notification_id() == head
        other = {**commands[3], "amount": "1.00"}
        refused = api.post("/commands/pay", other)
        assert refused.status_code == 409
        assert refused.json()["reason"] == "duplicate_command_conflict"
    finally:
        api.close()


def test_every_op_resent_after_its_connection_dropped_is_applied_once_by_the_server(
        tmp_path: Path, store_url: str) -> None:
    import os
    import socket

    import httpx

    from tests.support.builders import family_with_ids, with_ids

    made = run_cli("token", "create", "--role", "admin", "--db", store_url, cwd=tmp_path)
    headers = {"Authorization": f"Bearer {made.stdout.strip()}",
               "Content-Type": "application/json"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENEFITPOOL_")}
    with served(tmp_path, ['--db', store_url], env) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        commands = with_ids(family_with_ids())
        for command in commands:
            body = json.dumps(command).encode()
            request = (f"POST /commands/{command['op']} HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: {headers['Authorization']}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                       "Connection: close\r\n\r\n").encode() + body
            with socket.create_connection(("127.0.0.1", port)) as dropped:
                dropped.sendall(request)  # and hang up before the answer
            resent = httpx.post(f"{base}/commands/{command['op']}", json=command,
                                headers=headers, timeout=30)
            assert resent.status_code == 200, resent.json()
        again = [httpx.post(f"{base}/commands/{c['op']}", json=c, headers=headers,
                            timeout=30).json() for c in commands]
        assert all(a["duplicate"] for a in again)
        head = httpx.get(f"{base}/persons/{HEAD}?year=2021", headers=headers).json()
        assert head["refunded"] == "10.00" and head["paid"] == "300.00"
        household = httpx.get(f"{base}/households/{HEAD}?year=2021", headers=headers).json()
        assert [c["claim_id"] for c in household["claims"]] == ["C1"]
