"""The API's routes: each translates its request into one call of the service."""

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from adapters.http.auth import Auth, bearer_secret
from adapters.http.errors import JSON
from adapters.http.requests import day, read_body
from adapters.http.schemas import (
    COMMAND_RESPONSES,
    ERRORS,
    QUERY_RESPONSES,
    SUMMARIES,
    AsOf,
    AtPosition,
    ErrorBody,
    RegionQ,
    YearQ,
    body_doc,
    command_schema,
)
from adapters.http.service import Service, behaviour_of
from adapters.stores.tokens import Token
from domain.commands import OPS

Year = Annotated[int, Query(ge=2000, le=2100)]


def add_command_routes(app: FastAPI, service: Service, auth: Auth) -> None:
    """POST /commands/{op} for every op of the contract, and POST /commands for any."""

    def command_route(op: str) -> Callable[..., Any]:
        async def endpoint(request: Request) -> JSON:
            token = auth.permitted(bearer_secret(request), op)
            raw = await read_body(request, op)
            return await service.command(token, raw, op)
        endpoint.__name__ = f"command_{op}"
        return endpoint

    for op in OPS:
        app.add_api_route(
            f"/commands/{op}", command_route(op), methods=["POST"], tags=["commands"],
            summary=SUMMARIES[op], operation_id=f"command_{op}", responses=COMMAND_RESPONSES,
            openapi_extra=body_doc(command_schema(op, with_op=False)),
            description=f"The contract's `{op}` command: the body is a command line's object "
                        "(its `op` may be left out). A rejection answers with the result "
                        "object and the status of its reason.")

    @app.post("/commands", tags=["commands"], operation_id="command",
              summary="Any command of the contract, as a command-file line with its op",
              responses=COMMAND_RESPONSES,
              openapi_extra=body_doc({"oneOf": [command_schema(op, with_op=True)
                                                for op in OPS]}))
    async def any_command(request: Request) -> JSON:
        token = auth.permitted(bearer_secret(request), None)
        raw = await read_body(request)
        return await service.command(token, raw, None)


def public_health(answer: JSON) -> JSON:
    """What `/health` tells a caller that is not an admin: whether the store can be read and
    its log's position (of each region), not the writer's internals (issue 16)."""
    body = json.loads(bytes(answer.body))
    body.pop("writer", None)
    for region in (body.get("regions") or {}).values():
        region.pop("writer", None)
    return JSON(body, status_code=answer.status_code)


def add_query_routes(app: FastAPI, service: Service, auth: Auth) -> None:
    """Households, persons, reports, what-if, audit, whoami and health."""
    allowed = auth.allowed

    @app.get("/households/{person}", tags=["queries"], operation_id="household",
             summary="A household's pooled cap, used, remaining, members and claims",
             responses=QUERY_RESPONSES)
    def household(person: str, year: Year,
                  token: Annotated[Token, Depends(allowed("household"))],
                  as_of: AsOf = None, at_position: AtPosition = None) -> JSON:
        return service.household(token, person, year, day(as_of, "as_of"), at_position)

    @app.get("/persons/{person}", tags=["queries"], operation_id="person",
             summary="A person's enrollment, money, coverage and reimbursement",
             responses=QUERY_RESPONSES)
    def person(person: str, token: Annotated[Token, Depends(allowed("person"))],
               year: YearQ = None, as_of: AsOf = None, at_position: AtPosition = None) -> JSON:
        return service.person(token, person, year, day(as_of, "as_of"), at_position)

    @app.get("/persons/{person}/money", tags=["queries"], operation_id="person_money",
             summary="A person-year's enrollment, payments (payer, channel), subsidies and "
                     "refunds as recorded", responses=QUERY_RESPONSES)
    def person_money(person: str, year: Year,
                     token: Annotated[Token, Depends(allowed("person"))]) -> JSON:
        return service.person_money(token, person, year)

    def search_route(what: str, summary: str) -> None:
        def endpoint(token: Annotated[Token, Depends(allowed("search"))],
                     region: RegionQ = None, year: YearQ = None,
                     name: Annotated[str | None, Query(max_length=200)] = None,
                     identity: Annotated[str | None, Query(max_length=32)] = None,
                     at_cap: bool = False,
                     remaining_below: Annotated[str | None, Query(max_length=20)] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 20,
                     offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> JSON:
            return service.search(token, what, region, name, limit, offset, year=year,
                                  identity=identity, at_cap=at_cap,
                                  remaining_below=remaining_below)
        endpoint.__name__ = f"search_{what}"
        app.add_api_route(f"/{what}", endpoint, methods=["GET"], tags=["queries"],
                          operation_id=f"search_{what}", summary=summary,
                          responses=QUERY_RESPONSES)

    search_route("households", "Find households: region, year, head's name, identity, pool left")
    search_route("persons", "Find persons: region, year, name, identity, pool left")

    @app.get("/reports/fund", tags=["reports"], operation_id="report_fund",
             summary="The fund: gross contributions, subsidies, refunds, reimbursements, "
                     "fiscal due, their totals and the balance",
             responses=QUERY_RESPONSES)
    def report_fund(token: Annotated[Token, Depends(allowed("report"))],
                    region: RegionQ = None, year: YearQ = None) -> JSON:
        return service.report(token, "fund", region, year)

    @app.get("/reports/enrollment", tags=["reports"], operation_id="report_enrollment",
             summary="Registered, enrolled, covered and rates against the 99% target",
             responses=QUERY_RESPONSES)
    def report_enrollment(token: Annotated[Token, Depends(allowed("report"))],
                          region: RegionQ = None, year: YearQ = None) -> JSON:
        return service.report(token, "enrollment", region, year)

    @app.post("/whatif", tags=["reports"], operation_id="whatif",
              summary="Re-decide the recorded history under a policy patch; writes nothing",
              responses=QUERY_RESPONSES,
              openapi_extra=body_doc({
                  "type": "object", "minProperties": 1,
                  "additionalProperties": {"type": "object"},
                  "description": "The patch: tables of the policy files with the keys to "
                                 "change, values as in the TOML files",
                  "example": {"outpatient": {"ratio": "0.60"}}}))
    async def whatif(request: Request, token: Annotated[Token, Depends(allowed("whatif"))],
                     region: RegionQ = None, year: YearQ = None,
                     engine: Literal["fast", "exact", "both"] = "fast",
                     behaviour: Literal["pay-new-due", "recorded"] = "pay-new-due",
                     take_up_elasticity: Annotated[str | None, Query(
                         max_length=20, description="Change of enrollment per 1% change of "
                         "the net due, a decimal such as -0.2 (with pay-new-due)")] = None,
                     seed: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0) -> JSON:
        raw = await read_body(request)
        chosen = behaviour_of(behaviour, take_up_elasticity, seed)
        return await run_in_threadpool(service.whatif, token, raw, region, year, engine,
                                       chosen)

    @app.get("/shadows", tags=["reports"], operation_id="shadows",
             summary="The shadow rules within the token's region", responses=QUERY_RESPONSES)
    def shadows(token: Annotated[Token, Depends(allowed("whatif"))]) -> JSON:
        return service.shadows(token)

    @app.get("/shadows/{name}", tags=["reports"], operation_id="shadow_report",
             summary="What a shadow rule set decided differently since it was added",
             responses=QUERY_RESPONSES)
    def shadow(name: Annotated[str, Path(max_length=40)],
               token: Annotated[Token, Depends(allowed("whatif"))]) -> JSON:
        return service.shadow(token, name)

    @app.get("/audit/verify", tags=["audit"], operation_id="audit_verify",
             summary="Check the event chain, re-decide every decision, compare the views",
             responses={**QUERY_RESPONSES, 409: {"model": ErrorBody}})
    def audit_verify(token: Annotated[Token, Depends(allowed("audit"))],
                     at_position: AtPosition = None, views: bool = True) -> JSON:
        return service.audit_verify(token, at_position, views)

    @app.get("/audit/trail/{person}", tags=["audit"], operation_id="audit_trail",
             summary="The explained history of a person's (or a head's household's) year",
             responses=QUERY_RESPONSES)
    def audit_trail(person: str, year: Year,
                    token: Annotated[Token, Depends(allowed("audit"))]) -> JSON:
        return service.audit_trail(token, person, year)

    @app.get("/whoami", tags=["access"], operation_id="whoami",
             summary="The calling token's id, role, region and label", responses=ERRORS)
    def whoami(token: Annotated[Token, Depends(allowed(None))]) -> JSON:
        return JSON({k: v for k, v in token.as_dict().items() if k != "revoked_at"})

    @app.get("/health", tags=["access"], operation_id="health",
             summary="Whether the store can be read (no token needed; its writer's figures "
                     "for an admin token only)",
             responses={503: {"model": ErrorBody}})
    async def health(request: Request) -> JSON:
        answer = await service.health()
        secret = bearer_secret(request)
        token = service.tokens.authenticate(secret.strip()) if secret else None
        if token is not None and token.role == "admin":
            return answer
        return public_health(answer)
