"""The HTTP API: every command of the contract, the household and person queries, reports,
what-if and audit, behind API tokens with roles and region prefixes (ADR 20).

`create_app(url, book)` builds a FastAPI application on the store at `url`; nothing is opened
at import time. `benefitpool serve` runs it under uvicorn with `log_config()`, whose filter
masks resident ID numbers in every log line.

Commands are validated by the ledger itself (`domain.commands.parse_command`, through
`Ledger.execute`), so reasons and messages are the command file's; the Pydantic models below
only describe the bodies in the OpenAPI document. One writer thread per process applies the
commands (`adapters.writer.GroupWriter`, group commit): the ledger and its aggregate cache are
not thread-safe. Several processes on one store are safe through the ledger's optimistic
concurrency.
"""

import asyncio
import contextlib
import gc
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.ledger import MAX_LINE, Ledger, Prepared, decode_line, open_ledger
from adapters.ledger_process import LedgerClient, OutOfRegion, check_region
from adapters.personal import mask_number, mask_text
from adapters.tokens import Token, TokenStore
from adapters.views_store import open_views
from adapters.writer import FREEZE_EVERY, GroupWriter, freeze_long_lived
from domain.commands import OPS, PAYER_RELATIONS
from domain.errors import InvalidInput, LedgerError, PolicyError, Rejected
from domain.identity import PersonRef, parse_person_ref
from domain.policy import CATEGORIES, CAUSES, CHANNELS, IDENTITIES, PolicyBook
from domain.rules.refund import REFUND_REASONS
from projections import queries
from projections.views import LedgerViews, ViewConflict, catch_up

log = logging.getLogger("benefitpool.http")

#: The largest body read, in bytes (a command line is at most MAX_LINE characters, each at
#: most 4 bytes of UTF-8); a body over MAX_LINE characters is refused 413 as well.
MAX_BODY_BYTES = 4 * MAX_LINE
LEDGER_SOCKET_ENV = "BENEFITPOOL_LEDGER_SOCKET"  # set by `serve` for its worker processes

# --- reasons and statuses ----------------------------------------------------------------------

NOT_FOUND = frozenset({"unknown_person", "unknown_claim"})
CONFLICTS = frozenset({"already_registered", "already_enrolled", "enrolled_elsewhere",
                       "duplicate_payment_ref", "duplicate_claim_conflict", "already_reversed",
                       "subsidy_already_granted", "conflict"})


def status_for(reason: str | None, query: bool = False) -> int:
    """The HTTP status of a rejection: 404 for what does not exist, 409 for a clash with what
    is recorded, 500 for the ledger's own failure, else 422 (the request cannot be applied)."""
    if reason in NOT_FOUND or (query and reason == "not_enrolled"):
        return 404
    if reason in CONFLICTS:
        return 409
    if reason == "internal_error":
        return 500
    return 422


class ApiError(Exception):
    """A request refused before (or instead of) reaching the ledger."""

    def __init__(self, status: int, reason: str, message: str, op: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.op = op
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "rejected", "reason": self.reason,
                                "message": self.message}
        if self.op is not None:
            body = {"op": self.op, **body}
        return body


class JSON(JSONResponse):
    """UTF-8 JSON; anything the standard encoder does not know is written as a string."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, default=str,
                          separators=(",", ":")).encode("utf-8")


def _error(status: int, reason: str, message: str, headers: Mapping[str, str] | None = None
           ) -> JSON:
    return JSON({"status": "rejected", "reason": reason, "message": message}, status_code=status,
                headers=dict(headers or {}))


# --- masking ID numbers ------------------------------------------------------------------------

#: Result and query fields that hold a person's number (or a list of them).
ID_FIELDS = frozenset({"person", "payer", "household_head", "head", "members",
                       "covered_members"})


def mask_ids(value: Any, keep: frozenset[str] = frozenset(), key: str | None = None) -> Any:
    """A copy of a result with every ID number masked except those in `keep`: the ID fields
    whatever the number looks like (document numbers too), and resident-ID-shaped runs in any
    other text (messages)."""
    if isinstance(value, dict):
        return {k: mask_ids(v, keep, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_ids(v, keep, key) for v in value]
    if isinstance(value, str):
        if key in ID_FIELDS:
            return value if value.upper() in keep else mask_number(value)
        return mask_text(value, keep)
    return value


class MaskIDs(logging.Filter):
    """A logging filter that masks resident ID numbers in each record's message (and its
    traceback). Put it on handlers: a handler's filters see every record it writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # uvicorn's access formatter unpacks the arguments: mask them one by one.
            record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
            if isinstance(record.msg, str):
                record.msg = mask_text(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: leave it to the formatter to report
                return True
            record.msg, record.args = mask_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging configuration with `MaskIDs` on every handler, and the API's own
    logger (`benefitpool`) writing through the default handler."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["mask_ids"] = {"()": f"{__name__}.MaskIDs"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "mask_ids"]
    config["loggers"]["benefitpool"] = {"handlers": ["default"], "level": level.upper(),
                                        "propagate": False}
    return config


# --- the documented bodies (OpenAPI only; the ledger validates) -------------------------------

PersonId = Annotated[str, Field(min_length=1, max_length=64, examples=["341225198001010117"],
                                description="Resident ID number, or a document number")]
Region = Annotated[str, Field(pattern=r"^[0-9]{6}$", examples=["341225"])]
Money = Annotated[str, Field(pattern=r"^[0-9]{1,11}(\.[0-9]{1,2})?$", examples=["280.00"],
                             description="Yuan, at most 2 decimals, as a string")]
Day = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", examples=["2021-03-01"])]
At = Annotated[str, Field(min_length=10, max_length=40,
                          examples=["2021-03-01T09:30:00+08:00"],
                          description="ISO 8601 timestamp with offset, or a date (+08:00)")]
Year = Annotated[int, Field(ge=2000, le=2100)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Ref = Annotated[str, Field(min_length=1, max_length=128)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterBody(_Body):
    person: PersonId
    name: Text
    region: Region
    at: At
    id_type: Literal["resident_id", "other"] | None = None
    birth_date: Day | None = None
    sex: Literal["male", "female"] | None = None
    residence_permit: bool | None = None


class ReportEmployeeInsuranceBody(_Body):
    person: PersonId
    year: Year
    at: At


class EnrollBody(_Body):
    person: PersonId
    year: Year
    region: Region
    at: At
    household_head: PersonId | None = None
    category: Literal[CATEGORIES] | None = None  # type: ignore[valid-type]
    identity: Literal[IDENTITIES] | None = None  # type: ignore[valid-type]
    insured_before: bool | None = None
    broken_years: Annotated[int, Field(ge=0, le=80)] | None = None
    back_paid_years: Annotated[int, Field(ge=0, le=80)] | None = None


class PayBody(_Body):
    person: PersonId
    year: Year
    amount: Money
    channel: Literal[CHANNELS]  # type: ignore[valid-type]
    payment_ref: Ref
    at: At
    payer: PersonId | None = None
    payer_relation: Literal[PAYER_RELATIONS] | None = None  # type: ignore[valid-type]


class GrantSubsidyBody(_Body):
    person: PersonId
    year: Year
    identity: Literal[IDENTITIES]  # type: ignore[valid-type]
    at: At


class RefundBody(_Body):
    person: PersonId
    year: Year
    reason: Literal[REFUND_REASONS]  # type: ignore[valid-type]
    at: At
    amount: Money | None = None
    channel: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class ClaimBody(_Body):
    claim_id: Ref
    person: PersonId
    visit_date: Day
    facility_level: Annotated[int, Field(ge=0, le=3)]
    facility_region: Region
    expense: Money
    at: At
    cause: Literal[CAUSES] | None = None  # type: ignore[valid-type]


class ReverseClaimBody(_Body):
    claim_id: Ref
    reason: Text
    at: At


BODIES: dict[str, type[_Body]] = {
    "register": RegisterBody, "report_employee_insurance": ReportEmployeeInsuranceBody,
    "enroll": EnrollBody, "pay": PayBody, "grant_subsidy": GrantSubsidyBody,
    "refund": RefundBody, "claim": ClaimBody, "quote": ClaimBody,
    "reverse_claim": ReverseClaimBody,
}
if set(BODIES) != set(OPS):  # pragma: no cover - a new op needs its documented body
    raise RuntimeError("every op of the contract needs a documented body in BODIES")

SUMMARIES = {
    "register": "Register a resident",
    "report_employee_insurance": "Report that a person is in employee insurance for a year",
    "enroll": "Enroll a person for a benefit year",
    "pay": "Record a contribution payment",
    "grant_subsidy": "Grant a hardship identity recognised after enrollment",
    "refund": "Refund credit (or everything, for a duplicate enrollment)",
    "claim": "Settle an outpatient claim against the household pool",
    "quote": "What a claim would reimburse now; records nothing",
    "reverse_claim": "Reverse a settled claim",
}


class ErrorBody(BaseModel):
    """Every refusal: the contract's rejection, or the API's own (`unauthorized`,
    `forbidden`, `not_found`, `method_not_allowed`, …)."""

    status: Literal["rejected"]
    reason: str
    message: str
    op: str | None = None


class CommandResult(BaseModel):
    """The contract's result object for the command (without `line`)."""

    model_config = ConfigDict(extra="allow")
    op: str | None
    status: Literal["ok", "rejected"]
    reason: str | None
    message: str


def _command_schema(op: str, with_op: bool) -> dict[str, Any]:
    schema = BODIES[op].model_json_schema()
    if "$defs" in schema:  # pragma: no cover - the bodies are flat
        raise RuntimeError(f"the {op} body schema must not need definitions")
    schema["title"] = f"{op} command"
    if with_op:
        schema["properties"] = {"op": {"const": op, "type": "string"}, **schema["properties"]}
        schema["required"] = ["op", *schema.get("required", [])]
    else:
        schema["properties"] = {"op": {"const": op, "type": "string",
                                       "description": "optional: the path names the op"},
                                **schema["properties"]}
    return schema


def _body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    """A route's JSON body and its bearer-token security, declared by hand (the command routes
    read both themselves; for /whatif it repeats what its token dependency declares)."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}},
            "security": [{"HTTPBearer": []}]}


ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 413, 422)}
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CommandResult, "description": "Accepted: the result object"},
    **ERRORS,
    404: {"model": CommandResult, "description": "unknown_person or unknown_claim"},
    409: {"model": CommandResult, "description": "A clash with what is recorded"},
    422: {"model": CommandResult, "description": "Rejected: the result object"},
}
QUERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS, 404: {"model": ErrorBody}, 503: {"model": ErrorBody}}


# --- the service behind the routes ----------------------------------------------------------


class Service:
    """The ledger, its views and the tokens of one process, with the locks that make the
    ledger safe to share between request threads."""

    def __init__(self, ledger: Ledger, views: LedgerViews, tokens: TokenStore,
                 freeze_every: int | None = None, remote: LedgerClient | None = None
                 ) -> None:
        self.ledger = ledger
        self.views = views
        self.tokens = tokens
        #: The ledger and its aggregate cache are not thread-safe: one writer thread applies
        #: every command, saving what queued up meanwhile in one transaction (ADR 22); with a
        #: ledger process (ADR 24) that thread is there, and this one only reads.
        self.remote = remote
        self.writer = (GroupWriter(ledger, freeze_every=freeze_every) if remote is None
                       else None)
        #: One catch-up of the views at a time in this process.
        self.views_lock = threading.Lock()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.ledger.app.close()
        self.views.engine.dispose()

    # --- commands --------------------------------------------------------------------------

    async def command(self, token: Token, raw: bytes, path_op: str | None) -> JSON:
        """Validate on the event loop, apply on the writer thread, answer after the commit."""
        started = time.perf_counter()
        data, prepared, op = self._prepare(token, raw, path_op)
        command = prepared.parsed[1]

        try:
            if self.remote is not None:
                result = await self.remote.apply(data, token.region)
            else:
                result = await asyncio.wrap_future(self.writer.submit_future(
                    prepared, lambda: check_region(self.ledger, command, token.region)))
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
            log.info("%s %s %s%s (%.1f ms)", op, _who(command), result["status"],
                     f" {result['reason']}" if result["reason"] else "",
                     1000 * (time.perf_counter() - started))
        return self._respond(token, result, status, _ids_of(data))

    def _prepare(self, token: Token, raw: bytes, path_op: str | None
                 ) -> tuple[dict[str, Any], Prepared, str | None]:
        data = _decode_object(raw, path_op)
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
        prepared = self.ledger.prepare(data)
        if isinstance(prepared.parsed, InvalidInput):
            e = prepared.parsed
            raise ApiError(422, e.reason, e.message, op=op)
        return data, prepared, op

    def _respond(self, token: Token, body: Any, status: int = 200,
                 keep: frozenset[str] = frozenset()) -> JSON:
        if not token.sees_full_ids:
            body = mask_ids(body, keep if token.role == "clinic" else frozenset())
        return JSON(body, status_code=status)

    # --- queries ---------------------------------------------------------------------------

    def refresh(self) -> None:
        with self.views_lock:
            try:
                catch_up(self.ledger.app, self.views)
            except ViewConflict as e:
                raise ApiError(503, "views_busy", str(e)) from None

    def _personal(self) -> tuple[Any, ...]:
        """The codec the views hold persons by (ADR 21), where the views have one."""
        personal = getattr(self.views, "personal", None)
        return () if personal is None else (personal,)

    def _query(self, query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if query in (queries.household, queries.person) and self._personal():
            kwargs["personal"] = self._personal()[0]
        try:
            return query(self.views.engine, *args, refresh=self.refresh, **kwargs)
        except Rejected as e:
            raise ApiError(status_for(e.reason, query=True), e.reason, e.message) from None

    def household(self, token: Token, ref: str, year: int, as_of: date | None,
                  at_position: int | None) -> JSON:
        view = self._query(queries.household, ref, year, as_of=as_of, at_position=at_position)
        self._check_region(token, view["region"], "the household's region")
        return self._respond(token, view, keep=_keep(ref))

    def person(self, token: Token, ref: str, year: int | None, as_of: date | None,
               at_position: int | None) -> JSON:
        view = self._query(queries.person, ref, year, as_of=as_of, at_position=at_position)
        self._check_region(token, view["region"], "the person's region")
        return self._respond(token, view, keep=_keep(ref))

    def report(self, token: Token, name: str, region: str | None, year: int | None) -> JSON:
        scope = _scope(token, region)
        query = queries.fund_report if name == "fund" else queries.enrollment_report
        return self._respond(token, self._query(query, scope, year))

    @staticmethod
    def _check_region(token: Token, region: str | None, what: str) -> None:
        """403 unless the token's prefix covers the region ("" : every region)."""
        if region is None or not token.covers(region):
            raise ApiError(403, "forbidden", f"{what} is outside the token's region "
                           f"{token.region or '(all)'}")

    # --- what-if and audit -----------------------------------------------------------------

    def whatif(self, token: Token, raw: bytes, region: str | None, year: int | None,
               engine: str) -> JSON:
        from adapters.policy_files import apply_patch
        from adapters.whatif import Scope, compare_claims, exact_whatif, read_history, report
        from adapters.whatif_fast import ClaimsFacts, baseline_from_views, fast_whatif

        patch = _decode_object(raw, None)
        for key, value in patch.items():
            if not isinstance(value, dict):
                raise ApiError(422, "invalid_input", f"a patch names tables of the policy "
                               f"files (e.g. {{\"outpatient\": {{\"ratio\": \"0.60\"}}}}); "
                               f"{key[:40]!r} is not a table")
        if not patch:
            raise ApiError(422, "invalid_input", "the patch is empty")
        scope_region = _scope(token, region)
        book = self.ledger.policies
        try:
            reform = apply_patch(book, patch, "the patch", scope_region, year)
        except PolicyError as e:
            raise ApiError(422, "invalid_input", f"policy patch: {e}") from None
        except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as e:
            raise ApiError(422, "invalid_input",
                           f"policy patch: cannot be applied ({type(e).__name__})") from None
        scope = Scope(scope_region, year)
        if not any(p.version.endswith("+whatif") for p in reform):
            raise ApiError(422, "no_policy", f"no policy in force matches the scope ({scope})")
        app = self.ledger.app
        fast = exact = baseline = None
        if engine in ("fast", "both"):
            self.refresh()
            facts = ClaimsFacts(self.views.engine, scope)
            baseline = baseline_from_views(self.views.engine, scope, facts, *self._personal())
            fast = fast_whatif(self.views.engine, scope, baseline, reform, patch, app, facts,
                               *self._personal())
        if engine in ("exact", "both"):
            history = read_history(app, book, scope)
            baseline = history.baseline
            exact = exact_whatif(history, reform)
        side = fast if fast is not None else exact
        summary = report(scope, baseline, side, engine)
        if engine == "both":
            disagreements = compare_claims(exact.claims, fast.claims)
            summary["engines_agree"] = not disagreements
            summary["disagreements"] = len(disagreements)
        return self._respond(token, summary)

    def audit_verify(self, token: Token, at_position: int | None, views: bool) -> JSON:
        from adapters.audit import AuditUnavailable, run_audit

        self._check_region(token, "", "an audit of the whole ledger")
        with self.views_lock:  # no catch-up of this process moves the views meanwhile
            try:
                report = run_audit(self.ledger.app, self.ledger.policies,
                                   self.views if views else None, at_position)
            except AuditUnavailable as e:
                raise ApiError(409, e.reason, str(e)) from None
        return self._respond(token, report)

    def audit_trail(self, token: Token, ref: str, year: int) -> JSON:
        from adapters.trail import audit_trail

        try:
            trail = audit_trail(self.ledger, ref, year)
        except Rejected as e:
            raise ApiError(status_for(e.reason, query=True), e.reason, e.message) from None
        self._check_region(token, trail["region"], "the person's region")
        return self._respond(token, trail, keep=_keep(ref))

    async def health(self) -> JSON:
        try:
            position = await asyncio.to_thread(self.ledger.app.recorder.max_notification_id)
        except Exception as e:  # the store library raises its own error types
            log.warning("health: the store cannot be read (%s)", type(e).__name__)
            return _error(503, "store_unavailable", "the store cannot be read")
        if self.remote is None:
            writer = {"groups": self.writer.groups, "commands": self.writer.commands,
                      "frozen_objects": gc.get_freeze_count()}
        else:
            try:
                writer = await self.remote.stats()
            except LedgerError as e:
                return _error(503, "store_unavailable", str(e))
        return JSON({"status": "ok", "position": position or 0, "writer": writer})


# --- helpers -------------------------------------------------------------------------------------


def _decode_object(raw: bytes, op: str | None) -> dict[str, Any]:
    """A body decoded as the ledger decodes a command line (strict JSON, exact decimals):
    400 when it is not a JSON object, 413 when it is longer than a line may be."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_input", "the body is not UTF-8 text", op=op) from None
    if len(text) > MAX_LINE:
        raise ApiError(413, "invalid_input", f"the body is longer than {MAX_LINE} characters",
                       op=op)
    if not text.strip():
        raise ApiError(400, "invalid_input", "the body is empty; send a JSON object", op=op)
    try:
        data = decode_line(text)
    except InvalidInput as e:
        raise ApiError(400, e.reason, e.message.replace("the line", "the body"), op=op) from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_input", "the body must be a JSON object", op=op)
    return data


def _who(command: Any) -> str:
    person = getattr(command, "person", None)
    if isinstance(person, PersonRef):
        return person.masked()
    return f"claim {getattr(command, 'claim_id', '?')}"


def _keep(*refs: Any) -> frozenset[str]:
    """The numbers a caller sent (so already knows): shown to a clinic unmasked."""
    out = set()
    for ref in refs:
        if isinstance(ref, str):
            try:
                out.add(parse_person_ref(ref).number.upper())
            except InvalidInput:
                out.add(ref.upper())
    return frozenset(out)


def _ids_of(data: Mapping[str, Any]) -> frozenset[str]:
    return _keep(*(data.get(k) for k in ("person", "household_head", "payer")))


_REGION_PREFIX = re.compile(r"^[0-9]{1,6}$")


def _scope(token: Token, region: str | None) -> str | None:
    """The region scope of a report or what-if: the asked prefix, which must lie within the
    token's; by default the token's own (None: all regions)."""
    if region is None or region == "":
        return token.region or None
    if not _REGION_PREFIX.match(region):
        raise ApiError(422, "invalid_input", f"region must be a code prefix of 1 to 6 digits; "
                       f"got {region[:40]!r}")
    if not token.covers(region):
        raise ApiError(403, "forbidden", f"region {region} is outside the token's region "
                       f"{token.region or '(all)'}")
    return region


def _day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid_input", f"{name} must be a date YYYY-MM-DD; got "
                       f"{text[:40]!r}") from None


async def _read_body(request: Request, op: str | None = None) -> bytes:
    """The request body, refused 413 as soon as it exceeds MAX_BODY_BYTES."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "invalid_input", f"the body is larger than {MAX_BODY_BYTES} bytes",
                       op=op)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "invalid_input",
                           f"the body is larger than {MAX_BODY_BYTES} bytes", op=op)
        chunks.append(chunk)
    return b"".join(chunks)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path",
                                                                           "body"))
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is invalid"


AsOf = Annotated[str | None, Query(description="Business date YYYY-MM-DD",
                                   pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
AtPosition = Annotated[int | None, Query(ge=0, le=2**62, description="Log position")]
YearQ = Annotated[int | None, Query(ge=2000, le=2100)]
RegionQ = Annotated[str | None, Query(pattern=r"^[0-9]{1,6}$",
                                      description="Region code or prefix")]

_HTTP_REASONS = {400: "invalid_input", 401: "unauthorized", 403: "forbidden",
                 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
                 413: "invalid_input", 415: "unsupported_media_type", 422: "invalid_input"}


# --- the application -----------------------------------------------------------------------------


def create_app(url: str, book: PolicyBook, *, tokens: TokenStore | None = None,
               audit_key: bytes | None = None, long_running: bool = False,
               ledger_address: str | None = None) -> FastAPI:
    """The HTTP API on the store at `url` (created if missing), deciding by `book`. Tokens are
    read from the store's `api_token` table unless a `TokenStore` is given. The store stays
    open for the app's life (an app may be started and stopped more than once, as test
    clients do): `app.state.service.close()` closes it. A `long_running` app (a server
    process's only one) keeps its long-lived objects out of full garbage collections (ADR 23):
    what is alive once it is built, and again every FREEZE_EVERY commands. With a
    `ledger_address`, commands go to the ledger process listening there (ADR 24), and this
    app's ledger only reads."""
    ledger = open_ledger(url, book, audit_key=audit_key)
    try:
        views = open_views(ledger, url)
        service = Service(ledger, views, tokens or TokenStore(views.engine),
                          freeze_every=FREEZE_EVERY if long_running else None,
                          remote=LedgerClient(ledger_address) if ledger_address else None)
    except Exception:
        ledger.app.close()
        raise

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if service.remote is not None:  # on the loop that used the connection
            await service.remote.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="benefitpool", version="1",
        description="The household benefit-pool ledger over HTTP: the commands of the "
                    "command-file contract, queries, reports, what-if and audit. Every "
                    "endpoint but /health needs `Authorization: Bearer <token>` "
                    "(`benefitpool token create`).")
    app.state.service = service
    bearer = HTTPBearer(auto_error=False, description="An API token (benefitpool token create)")

    def permitted(secret: str | None, action: str | None) -> Token:
        """The token of an `Authorization: Bearer` secret, if it may use `action` (None: any
        token); on the event loop, a recently checked token costs no database round trip."""
        if not secret:
            raise ApiError(401, "unauthorized", "an API token is required: "
                           "Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
        token = service.tokens.authenticate(secret.strip())
        if token is None:
            raise ApiError(401, "unauthorized", "the API token is unknown or revoked",
                           headers={"WWW-Authenticate": "Bearer"})
        if action is not None and not token.may(action):
            raise ApiError(403, "forbidden", f"a {token.role} token may not use {action}")
        return token

    def allowed(action: str | None) -> Callable[..., Any]:
        async def check(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                               Depends(bearer)]) -> Token:
            return permitted(credentials.credentials if credentials else None, action)
        return check

    def bearer_secret(request: Request) -> str | None:
        """The secret of the request's `Authorization: Bearer` header, read as HTTPBearer
        reads it (the command routes skip dependency injection: they are the hot path)."""
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        return secret if scheme.lower() == "bearer" else None

    # --- error bodies: always status, reason, message ---------------------------------------

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSON:
        return JSON(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSON:
        return _error(422, "invalid_input", mask_text(_validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSON:
        reason = _HTTP_REASONS.get(exc.status_code, "http_error")
        return _error(exc.status_code, reason, mask_text(str(exc.detail)),
                      getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSON:
        log.error("%s %s failed (%s)", request.method, request.url.path, type(exc).__name__,
                  exc_info=exc)
        return _error(500, "internal_error", "the server failed on this request; nothing was "
                      "recorded unless a result said so")

    # --- commands ----------------------------------------------------------------------------

    def command_route(op: str) -> Callable[..., Any]:
        async def endpoint(request: Request) -> JSON:
            token = permitted(bearer_secret(request), op)
            raw = await _read_body(request, op)
            return await service.command(token, raw, op)
        endpoint.__name__ = f"command_{op}"
        return endpoint

    for op in OPS:
        app.add_api_route(
            f"/commands/{op}", command_route(op), methods=["POST"], tags=["commands"],
            summary=SUMMARIES[op], operation_id=f"command_{op}", responses=COMMAND_RESPONSES,
            openapi_extra=_body_doc(_command_schema(op, with_op=False)),
            description=f"The contract's `{op}` command: the body is a command line's object "
                        "(its `op` may be left out). A rejection answers with the result "
                        "object and the status of its reason.")

    @app.post("/commands", tags=["commands"], operation_id="command",
              summary="Any command of the contract, as a command-file line with its op",
              responses=COMMAND_RESPONSES,
              openapi_extra=_body_doc({"oneOf": [_command_schema(op, with_op=True)
                                                 for op in OPS]}))
    async def any_command(request: Request) -> JSON:
        token = permitted(bearer_secret(request), None)
        raw = await _read_body(request)
        return await service.command(token, raw, None)

    # --- queries -------------------------------------------------------------------------------

    @app.get("/households/{person}", tags=["queries"], operation_id="household",
             summary="A household's pooled cap, used, remaining, members and claims",
             responses=QUERY_RESPONSES)
    def household(person: str, year: Annotated[int, Query(ge=2000, le=2100)],
                  token: Annotated[Token, Depends(allowed("household"))],
                  as_of: AsOf = None, at_position: AtPosition = None) -> JSON:
        return service.household(token, person, year, _day(as_of, "as_of"), at_position)

    @app.get("/persons/{person}", tags=["queries"], operation_id="person",
             summary="A person's enrollment, money, coverage and reimbursement",
             responses=QUERY_RESPONSES)
    def person(person: str, token: Annotated[Token, Depends(allowed("person"))],
               year: YearQ = None, as_of: AsOf = None, at_position: AtPosition = None) -> JSON:
        return service.person(token, person, year, _day(as_of, "as_of"), at_position)

    @app.get("/reports/fund", tags=["reports"], operation_id="report_fund",
             summary="Contributions, subsidies, refunds, reimbursements and fiscal due",
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
              openapi_extra=_body_doc({
                  "type": "object", "minProperties": 1,
                  "additionalProperties": {"type": "object"},
                  "description": "The patch: tables of the policy files with the keys to "
                                 "change, values as in the TOML files",
                  "example": {"outpatient": {"ratio": "0.60"}}}))
    async def whatif(request: Request, token: Annotated[Token, Depends(allowed("whatif"))],
                     region: RegionQ = None, year: YearQ = None,
                     engine: Literal["fast", "exact", "both"] = "fast") -> JSON:
        raw = await _read_body(request)
        return await run_in_threadpool(service.whatif, token, raw, region, year, engine)

    @app.get("/audit/verify", tags=["audit"], operation_id="audit_verify",
             summary="Check the event chain, re-decide every decision, compare the views",
             responses={**QUERY_RESPONSES, 409: {"model": ErrorBody}})
    def audit_verify(token: Annotated[Token, Depends(allowed("audit"))],
                     at_position: AtPosition = None, views: bool = True) -> JSON:
        return service.audit_verify(token, at_position, views)

    @app.get("/audit/trail/{person}", tags=["audit"], operation_id="audit_trail",
             summary="The explained history of a person's (or a head's household's) year",
             responses=QUERY_RESPONSES)
    def audit_trail(person: str, year: Annotated[int, Query(ge=2000, le=2100)],
                    token: Annotated[Token, Depends(allowed("audit"))]) -> JSON:
        return service.audit_trail(token, person, year)

    @app.get("/whoami", tags=["access"], operation_id="whoami",
             summary="The calling token's id, role, region and label", responses=ERRORS)
    def whoami(token: Annotated[Token, Depends(allowed(None))]) -> JSON:
        return JSON({k: v for k, v in token.as_dict().items() if k != "revoked_at"})

    @app.get("/health", tags=["access"], operation_id="health",
             summary="Whether the store can be read (no token needed)",
             responses={503: {"model": ErrorBody}})
    async def health() -> JSON:
        return await service.health()

    if long_running:
        freeze_long_lived()
    return app


def app_from_env() -> FastAPI:
    """The app for `uvicorn --factory` (one per worker process): the store and policies from
    BENEFITPOOL_DB and BENEFITPOOL_POLICIES, as the CLI reads them."""
    import os
    from pathlib import Path

    from adapters.policy_files import load_policy_book
    from adapters.store import database_url

    folder = os.environ.get("BENEFITPOOL_POLICIES")
    return create_app(database_url(), load_policy_book(Path(folder) if folder else None),
                      long_running=True,
                      ledger_address=os.environ.get(LEDGER_SOCKET_ENV) or None)
