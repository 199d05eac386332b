"""Every refusal as the API answers it: the HTTP status of a reason, and one error body."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.identity import mask_text

NOT_FOUND = frozenset({"unknown_person", "unknown_claim"})
CONFLICTS = frozenset({"already_registered", "already_enrolled", "enrolled_elsewhere",
                       "duplicate_payment_ref", "duplicate_claim_conflict", "already_reversed",
                       "subsidy_already_granted", "conflict", "duplicate_command_conflict",
                       "duplicate_refund_ref", "claim_reversed",
                       "enrollment_pending_elsewhere", "identity_conflict"})


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


def error(status: int, reason: str, message: str, headers: Mapping[str, str] | None = None
           ) -> JSON:
    return JSON({"status": "rejected", "reason": reason, "message": message}, status_code=status,
                headers=dict(headers or {}))


HTTP_REASONS = {400: "invalid_input", 401: "unauthorized", 403: "forbidden",
                 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
                 413: "invalid_input", 415: "unsupported_media_type", 422: "invalid_input"}


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path",
                                                                           "body"))
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is invalid"


def add_error_handlers(app: FastAPI, log: logging.Logger) -> None:
    """Every error body has a status, a reason and a message (ID numbers masked)."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSON:
        return JSON(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSON:
        return error(422, "invalid_input", mask_text(validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSON:
        reason = HTTP_REASONS.get(exc.status_code, "http_error")
        return error(exc.status_code, reason, mask_text(str(exc.detail)),
                     getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSON:
        log.error("%s %s failed (%s)", request.method, request.url.path, type(exc).__name__,
                  exc_info=exc)
        return error(500, "internal_error", "the server failed on this request; nothing was "
                     "recorded unless a result said so")
