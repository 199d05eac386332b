"""The service behind the routes: one process's event store, views and tokens, and the way its
commands reach the ledger (its own group writer, or the server's ledger process)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.application.access import OutOfRegion, check_region
from adapters.application.ledger import Ledger
from adapters.application.lines import Prepared, prepare
from adapters.http.errors import JSON, ApiError, error, status_for
from adapters.http.masking import ids_of, keep, mask_ids
from adapters.http.requests import decode_object, scope, who
from adapters.server.ledger_process import LedgerClient
from adapters.server.writer import GroupWriter
from adapters.stores.events import LedgerApplication
from adapters.stores.tokens import Token, TokenStore
from adapters.usecases import views as use
from adapters.usecases.whatif import PAY_NEW_DUE_ONLY, WhatIfRefused, reform_of, run_whatif
from adapters.whatif.behaviour import Behaviour
from domain.commands import OPS
from domain.errors import InvalidInput, LedgerError, Rejected
from domain.policy_book import PolicyBook
from projections import queries
from projections.views import LedgerViews, ViewConflict, ViewsDamaged, catch_up

log = logging.getLogger("benefitpool.http")


class Service:
    """The store, views and tokens of one process. Commands go to the ledger process when
    there is one (ADR 24), and this process only reads; otherwise one writer thread applies
    them through this process's own ledger, saving what queued up meanwhile in one
    transaction (ADR 22): the ledger and its aggregate cache are not thread-safe."""

    def __init__(self, store: LedgerApplication, book: PolicyBook, views: LedgerViews,
                 tokens: TokenStore, freeze_every: int | None = None,
                 remote: LedgerClient | None = None,
                 columnar: Callable[[], Any] | None = None) -> None:
        self.store = store
        #: Opens the store's columnar claims store for a what-if (None: it has none).
        self.columnar = columnar
        self.book = book
        self.views = views
        self.tokens = tokens
        self.remote = remote
        self.ledger = Ledger(store, book) if remote is None else None
        self.writer = (GroupWriter(self.ledger, freeze_every=freeze_every)
                       if self.ledger is not None else None)
        #: One catch-up of the views at a time in this process.
        self.views_lock = threading.Lock()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.store.close()
        self.views.engine.dispose()

    # --- commands --------------------------------------------------------------------------

    async def command(self, token: Token, raw: bytes, path_op: str | None) -> JSON:
        """Validate on the event loop, apply on the writer, answer after the commit."""
        data, result, status = await self.apply(token, self._prepare(token, raw, path_op))
        return self._respond(token, result, status, ids_of(data))

    async def apply(self, token: Token, request: tuple[dict[str, Any], Prepared, str | None]
                    ) -> tuple[dict[str, Any], dict[str, Any], int]:
        """A prepared request applied: (its body, its result, the HTTP status)."""
        started = time.perf_counter()
        data, prepared, op = request
        command = prepared.parsed[1]
        try:
            if self.remote is not None:
                result = await self.remote.apply(prepared, token.region)
            else:
                ledger = self.ledger
                result = await asyncio.wrap_future(self.writer.submit_future(
                    prepared, lambda: check_region(ledger, command, token.region)))
        except OutOfRegion:
            raise ApiError(403, "forbidden", f"this {op} is in a region outside the token's "
                           f"region {token.region or '(all)'}", op=op) from None
        except Rejected as e:  # the store refuses every write (e.g. another audit key)
            raise ApiError(503, e.reason, e.message, op=op) from None
        except LedgerError as e:
            raise ApiError(503, "store_unavailable", str(e), op=op) from None
        result = dict(result)
        result.pop("line", None)
        status = 200 if result["status"] == "ok" else status_for(result["reason"])
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %s%s (%.1f ms)", op, who(command), result["status"],
                     f" {result['reason']}" if result["reason"] else "",
                     1000 * (time.perf_counter() - started))
        return data, result, status

    def _prepare(self, token: Token, raw: bytes, path_op: str | None
                 ) -> tuple[dict[str, Any], Prepared, str | None]:
        """The body decoded and parsed, once: the parsed command is what the ledger applies."""
        data = decode_object(raw, path_op)
        if path_op is not None:
            if data.get("op") is not None and data.get("op") != path_op:
                raise ApiError(422, "invalid_input",
                               f"the body's op {str(data.get('op'))[:40]!r} contradicts the "
                               f"path's op {path_op!r}", op=path_op)
            data = {"op": path_op, **{k: v for k, v in data.items() if k != "op"}}
        op = data.get("op")
        op = op if isinstance(op, str) else None
        if op in OPS and not token.may(op):
            raise ApiError(403, "forbidden", f"a {token.role} token may not send {op}", op=op)
        prepared = prepare(data)
        if isinstance(prepared.parsed, InvalidInput):
            e = prepared.parsed
            raise ApiError(422, e.reason, e.message, op=op)
        return data, prepared, op

    def _respond(self, token: Token, body: Any, status: int = 200,
                 shown: frozenset[str] = frozenset()) -> JSON:
        if not token.sees_full_ids:
            body = mask_ids(body, shown if token.role == "clinic" else frozenset())
        return JSON(body, status_code=status)

    # --- queries ---------------------------------------------------------------------------

    def refresh(self) -> None:
        with self.views_lock:
            try:
                catch_up(self.store, self.views)
            except ViewConflict as e:
                raise ApiError(503, "views_busy", str(e)) from None
            except ViewsDamaged as e:
                raise ApiError(503, "views_damaged", str(e)) from None

    def _query(self, query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return use.ask(self.store, self.views, query, *args, refresh=self.refresh,
                           **kwargs)
        except Rejected as e:
            raise ApiError(status_for(e.reason, query=True), e.reason, e.message) from None

    def household(self, token: Token, ref: str, year: int, as_of: date | None,
                  at_position: int | None) -> JSON:
        view = self._query(queries.household, ref, year, as_of=as_of, at_position=at_position)
        self._check_region(token, view["region"], "the household's region")
        return self._respond(token, view, shown=keep(ref))

    def person(self, token: Token, ref: str, year: int | None, as_of: date | None,
               at_position: int | None) -> JSON:
        view = self._query(queries.person, ref, year, as_of=as_of, at_position=at_position)
        self._check_region(token, view["region"], "the person's region")
        return self._respond(token, view, shown=keep(ref))

    def person_money(self, token: Token, ref: str, year: int) -> JSON:
        """A person-year's enrollment, payments, subsidies and refunds as recorded."""
        from adapters.usecases.money import person_money

        try:
            found = person_money(self.store, ref, year)
        except Rejected as e:
            raise ApiError(status_for(e.reason, query=True), e.reason, e.message) from None
        self._check_region(token, found["region"], "the person's region")
        return self._respond(token, found, shown=keep(ref))

    def report(self, token: Token, name: str, region: str | None, year: int | None) -> JSON:
        query = queries.fund_report if name == "fund" else queries.enrollment_report
        return self._respond(token, self._query(query, scope(token, region), year))

    def search(self, token: Token, what: str, region: str | None, name: str | None,
               limit: int, offset: int, **filters: Any) -> JSON:
        """`households` or `persons` within the token's region (issue 16)."""
        from adapters.usecases.search import search
        from domain.money import Money

        try:
            below = filters.pop("remaining_below")
            filters["remaining_below"] = (Money.parse(below, "remaining_below")
                                          if below is not None else None)
            found = search(self.store, self.views, what, name, limit, offset,
                           refresh=self.refresh, region=scope(token, region), **filters)
        except Rejected as e:
            raise ApiError(422, e.reason, e.message) from None
        return self._respond(token, found)

    @staticmethod
    def _check_region(token: Token, region: str | None, what: str) -> None:
        """403 unless the token's prefix covers the region ("" : every region)."""
        if region is None or not token.covers(region):
            raise ApiError(403, "forbidden", f"{what} is outside the token's region "
                           f"{token.region or '(all)'}")

    # --- what-if and audit -----------------------------------------------------------------

    def whatif(self, token: Token, raw: bytes, region: str | None, year: int | None,
               engine: str, behaviour: Behaviour = PAY_NEW_DUE_ONLY) -> JSON:
        result = self._whatif(token, raw, region, year, engine, behaviour)
        return self._respond(token, result.summary)

    def whatif_files(self, token: Token, raw: bytes, region: str | None, year: int | None,
                     engine: str, behaviour: Behaviour = PAY_NEW_DUE_ONLY) -> dict[str, Any]:
        """A what-if with its files (the console's page): the summary as `whatif` answers it,
        the chart (PNG) and the households' and counties' CSV, ID numbers masked as the
        token's role sees them (ADR 83)."""
        import tempfile
        from pathlib import Path

        from adapters.whatif.outputs import write_outputs

        result = self._whatif(token, raw, region, year, engine, behaviour)
        with tempfile.TemporaryDirectory(prefix="benefitpool-whatif-") as tmp:
            _, households, regions, chart = write_outputs(
                Path(tmp), result.summary, result.scope, result.baseline, result.reform,
                show_ids=token.sees_full_ids)
            files = {"chart_png": chart.read_bytes(),
                     "households_csv": households.read_text(encoding="utf-8"),
                     "regions_csv": regions.read_text(encoding="utf-8")}
        summary = json.loads(bytes(self._respond(token, result.summary).body))
        return {"summary": summary, **files}

    def _whatif(self, token: Token, raw: bytes, region: str | None, year: int | None,
                engine: str, behaviour: Behaviour) -> Any:
        from adapters.whatif.exact import Scope

        patch = decode_object(raw, None)
        _check_patch(patch)
        scope_region = scope(token, region)
        columnar = self._open_columnar()
        try:
            reform = reform_of(self.book, patch, "the patch", scope_region, year)
            return run_whatif(self.store, self.views, self.book, reform, patch,
                              Scope(scope_region, year), engine, refresh=self.refresh,
                              columnar=columnar, behaviour=behaviour)
        except WhatIfRefused as e:
            raise ApiError(422, e.reason, e.message) from None
        finally:
            if columnar is not None:
                for note in columnar.notes:
                    log.info("columnar store: %s", note)
                columnar.close()

    def _open_columnar(self) -> Any:
        """The columnar claims store for one what-if (ADR 50), or None: the store has none,
        or another process or request holds it (DuckDB opens a file once), and the views
        answer."""
        if self.columnar is None:
            return None
        from adapters.stores.columnar import ColumnarBusy

        try:
            return self.columnar()
        except ColumnarBusy:
            return None

    def shadows(self, token: Token) -> JSON:
        """The shadows whose scope lies within the token's region (ADR 86)."""
        from adapters.stores.shadows import ShadowStore
        from adapters.usecases.shadow import shadow_list

        rows = shadow_list(self.store, ShadowStore(self.views.engine))
        return self._respond(token, [r for r in rows if token.covers(r["region"] or "")])

    def shadow(self, token: Token, name: str) -> JSON:
        """A shadow's report; 404 `unknown_shadow`, 403 outside the token's region."""
        from adapters.stores.shadows import ShadowError, ShadowStore
        from adapters.usecases.shadow import shadow_report

        shadows = ShadowStore(self.views.engine)
        try:
            found = shadows.get(name)
            self._check_region(token, found.region or "", f"the shadow {name}'s scope")
            answer = shadow_report(self.store, shadows, self.book, name)
        except ShadowError as e:
            raise ApiError(404, e.reason, e.message) from None
        except WhatIfRefused as e:
            raise ApiError(422, e.reason, e.message) from None
        return self._respond(token, answer)

    def audit_verify(self, token: Token, at_position: int | None, views: bool) -> JSON:
        from adapters.usecases.audit import AuditUnavailable, run_audit

        self._check_region(token, "", "an audit of the whole ledger")
        with self.views_lock:  # no catch-up of this process moves the views meanwhile
            try:
                report = run_audit(self.store, self.book, self.views if views else None,
                                   at_position)
            except AuditUnavailable as e:
                raise ApiError(409, e.reason, str(e)) from None
        return self._respond(token, report)

    def audit_trail(self, token: Token, ref: str, year: int) -> JSON:
        from adapters.usecases.trail import audit_trail

        try:
            trail = audit_trail(self.store, self.book, ref, year)
        except Rejected as e:
            raise ApiError(status_for(e.reason, query=True), e.reason, e.message) from None
        self._check_region(token, trail["region"], "the person's region")
        return self._respond(token, trail, shown=keep(ref))

    async def health(self) -> JSON:
        try:
            position = await asyncio.to_thread(self.store.recorder.max_notification_id)
        except Exception as e:  # the store library raises its own error types
            log.warning("health: the store cannot be read (%s)", type(e).__name__)
            return error(503, "store_unavailable", "the store cannot be read")
        if self.remote is None:
            writer = {"groups": self.writer.groups, "commands": self.writer.commands,
                      "frozen_objects": gc.get_freeze_count()}
        else:
            try:
                writer = await self.remote.stats()
            except LedgerError as e:
                return error(503, "store_unavailable", str(e))
        return JSON({"status": "ok", "position": position or 0, "writer": writer})


def _check_patch(patch: Mapping[str, Any]) -> None:
    """A patch over HTTP is a JSON object of policy tables, not empty."""
    for key, value in patch.items():
        if not isinstance(value, dict):
            raise ApiError(422, "invalid_input", f"a patch names tables of the policy "
                           f"files (e.g. {{\"outpatient\": {{\"ratio\": \"0.60\"}}}}); "
                           f"{key[:40]!r} is not a table")
    if not patch:
        raise ApiError(422, "invalid_input", "the patch is empty")


def behaviour_of(kind: str, elasticity: str | None, seed: int) -> Behaviour:
    """The what-if's `behaviour`, `take_up_elasticity` and `seed` parameters as one behaviour;
    422 `invalid_input` for an elasticity that is not a decimal between -100 and 100 or is
    given without pay-new-due."""
    if elasticity is None:
        return Behaviour(kind, None, seed)
    try:
        e = Decimal(elasticity)
    except InvalidOperation:
        e = Decimal("NaN")
    if not e.is_finite() or abs(e) > 100:
        raise ApiError(422, "invalid_input", f"take_up_elasticity must be a decimal number "
                       f"between -100 and 100 such as -0.2; got {elasticity!r}")
    if kind != PAY_NEW_DUE_ONLY.kind:
        raise ApiError(422, "invalid_input", "take_up_elasticity needs the behaviour "
                       "pay-new-due (payers who stay pay the new due)")
    return Behaviour(kind, e, seed)
