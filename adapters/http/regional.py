"""The API over a deployment (ADR 56): one service per region (its store, views and writer or
ledger process), commands routed through the directory, questions to the region that holds the
person, reports, what-if and audit over every region under the scope, merged.

It offers the routes the same methods as `Service`, so the same routes serve both."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from adapters.application.routing import Router
from adapters.http.errors import JSON, ApiError, status_for
from adapters.http.masking import ids_of
from adapters.http.requests import decode_object, scope
from adapters.http.service import Service, _check_patch
from adapters.stores.deployment_files import Deployment, RegionStore
from adapters.stores.directory import Directory
from adapters.stores.tokens import Token, TokenStore
from adapters.usecases import views as use
from adapters.usecases.regional_audit import RegionAudit, audit_deployment, enrollments_held
from adapters.usecases.regional_queries import fan_out, merged_rows, region_of_person
from adapters.usecases.regional_whatif import merged
from adapters.usecases.whatif import PAY_NEW_DUE_ONLY, WhatIfRefused, reform_of, run_whatif
from adapters.whatif.behaviour import Behaviour
from adapters.whatif.exact import Scope
from domain.policy_book import PolicyBook
from projections import queries


class RegionalService:
    """The regions' services behind one API."""

    def __init__(self, deployment: Deployment, directory: Directory, key: bytes,
                 services: dict[str, Service], tokens: TokenStore, book: PolicyBook,
                 enrolled_in: Callable[[str, str, int], bool] | None = None) -> None:
        self.deployment = deployment
        self.directory = directory
        self.key = key
        self.services = services
        self.tokens = tokens
        self.book = book
        self.enrolled_in = enrolled_in
        self.pool = ThreadPoolExecutor(max_workers=max(2, min(8, len(services))))

    @property
    def remote(self) -> Any:
        return None  # each region's service closes its own ledger connection

    def close(self) -> None:
        self.pool.shutdown()
        for service in self.services.values():
            service.close()
        self.tokens.engine.dispose()
        self.directory.engine.dispose()

    async def aclose(self) -> None:
        for service in self.services.values():
            if service.remote is not None:
                await service.remote.aclose()

    # --- commands --------------------------------------------------------------------------

    async def command(self, token: Token, raw: bytes, path_op: str | None) -> JSON:
        first = self.services[self.deployment.regions[0].prefix]
        request = first._prepare(token, raw, path_op)  # the role's check, the parse
        data = request[0]
        router = Router(self.deployment, self.directory, self.key, int(time.time()),
                        self.enrolled_in)
        text = data if isinstance(data, str) else _json(data)
        route = (await asyncio.to_thread(router.route, [(1, text)]))[0]
        if route.result is not None:
            result = {k: v for k, v in route.result.items() if k != "line"}
            return first._respond(token, result, status_for(result["reason"]), ids_of(data))
        service = self.services[route.region]
        held = None if route.reserved is None else (*route.reserved, route.region)
        # Should the apply fail, the reservation stays pending: whether the command was
        # committed is not known here, and its lease decides later (ADR 57).
        data, result, status = await service.apply(token, request)
        if held is not None:
            ok = result["status"] == "ok"
            await asyncio.to_thread(self.directory.settle, [held] if ok else [],
                                    [] if ok else [held])
        return service._respond(token, result, status, ids_of(data))

    # --- questions -------------------------------------------------------------------------

    def _service_of(self, ref: str, year: int | None) -> Service:
        region = region_of_person(self.deployment, self.directory, self.key, ref, year)
        return self.services[region.prefix]

    def household(self, token: Token, ref: str, year: int, as_of: date | None,
                  at_position: int | None) -> JSON:
        return self._service_of(ref, year).household(token, ref, year, as_of, at_position)

    def person(self, token: Token, ref: str, year: int | None, as_of: date | None,
               at_position: int | None) -> JSON:
        return self._service_of(ref, year).person(token, ref, year, as_of, at_position)

    def person_money(self, token: Token, ref: str, year: int) -> JSON:
        return self._service_of(ref, year).person_money(token, ref, year)

    def audit_trail(self, token: Token, ref: str, year: int) -> JSON:
        return self._service_of(ref, year).audit_trail(token, ref, year)

    def _within(self, prefix: str | None) -> list[Service]:
        return [self.services[r.prefix] for r in self.deployment.within(prefix)]

    def report(self, token: Token, name: str, region: str | None, year: int | None) -> JSON:
        query = queries.fund_report if name == "fund" else queries.enrollment_report
        prefix = scope(token, region)
        answers = fan_out(self._within(prefix),
                          lambda s: s._query(query, prefix, year), self.pool)
        rows = merged_rows(answers, *use.REPORT_ORDER[query])
        return self.services[self.deployment.regions[0].prefix]._respond(token, rows)

    def search(self, token: Token, what: str, region: str | None, name: str | None,
               limit: int, offset: int, **filters: Any) -> JSON:
        """Each region's matches up to the end of the page, merged in the order one store
        gives them (year, region, then the person column), and the page cut from them."""
        prefix = scope(token, region)
        answers = fan_out(self._within(prefix), lambda s: json.loads(s.search(
            token, what, prefix, name, offset + limit, 0, **dict(filters)).body), self.pool)
        rows = sorted((r for a in answers for r in a["rows"]), key=lambda r: (
            r.get("year") or 0, r["region"], r.get("head") or r.get("person")))
        found = {"total": sum(a["total"] for a in answers), "offset": offset, "limit": limit,
                 "rows": rows[offset:offset + limit]}
        return self.services[self.deployment.regions[0].prefix]._respond(token, found)

    def whatif(self, token: Token, raw: bytes, region: str | None, year: int | None,
               engine: str, behaviour: Behaviour = PAY_NEW_DUE_ONLY) -> JSON:
        patch = decode_object(raw, None)
        _check_patch(patch)
        prefix = scope(token, region)
        try:
            reform = reform_of(self.book, patch, "the patch", prefix, year)
            results = fan_out(self._within(prefix), lambda s: run_whatif(
                s.store, s.views, s.book, reform, patch, Scope(prefix, year), engine,
                refresh=s.refresh, behaviour=behaviour), self.pool)
        except WhatIfRefused as e:
            raise ApiError(422, e.reason, e.message) from None
        summary = merged(results, Scope(prefix, year), engine, self.book, reform,
                         behaviour, patch).summary
        return self.services[self.deployment.regions[0].prefix]._respond(token, summary)

    def shadows(self, token: Token) -> JSON:
        """Every region's shadows (each in its region's store), named with its `store`."""
        rows = [{**r, "store": prefix} for prefix, s in self.services.items()
                for r in json.loads(s.shadows(token).body)]
        return self.services[self.deployment.regions[0].prefix]._respond(token, rows)

    def shadow(self, token: Token, name: str) -> JSON:
        """The report of the shadow of that name in the first region's store holding one."""
        for service in self.services.values():
            try:
                return service.shadow(token, name)
            except ApiError as e:
                if e.reason != "unknown_shadow":
                    raise
        raise ApiError(404, "unknown_shadow", f"no shadow is named {name!r}")

    def audit_verify(self, token: Token, at_position: int | None, views: bool) -> JSON:
        from adapters.usecases.audit import AuditUnavailable, run_audit

        Service._check_region(token, "", "an audit of the whole deployment")
        if at_position is not None:
            raise ApiError(422, "invalid_input", "a deployment's regions have logs of their "
                           "own: audit a position of one region's store with its own --db")

        def audit(region: RegionStore) -> RegionAudit:
            s = self.services[region.prefix]
            with s.views_lock:
                report = run_audit(s.store, s.book, s.views if views else None)
                held = enrollments_held(s.store, s.views, report, caught_up=views)
            return RegionAudit(region.prefix, report, frozenset(held))

        try:
            report = audit_deployment(self.deployment, self.directory, self.key, audit,
                                      int(time.time()), self.pool)
        except AuditUnavailable as e:
            raise ApiError(409, e.reason, str(e)) from None
        return self.services[self.deployment.regions[0].prefix]._respond(token, report)

    async def health(self) -> JSON:
        regions, position, status = {}, 0, 200
        for prefix, service in self.services.items():
            answer = await service.health()
            body = _body(answer)
            regions[prefix] = body
            if answer.status_code != 200:
                status = answer.status_code
            position += body.get("position", 0) or 0
        return JSON({"status": "ok" if status == 200 else "unavailable", "position": position,
                     "regions": regions}, status_code=status)


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def _body(response: JSON) -> dict[str, Any]:
    return json.loads(bytes(response.body))

