"""What a request carries, read and checked before anything reaches the ledger."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import Request

from adapters.application.lines import MAX_LINE, decode_line
from adapters.http.errors import ApiError
from adapters.stores.tokens import Token
from domain.errors import InvalidInput
from domain.identity import PersonRef

#: The largest body read, in bytes (a command line is at most MAX_LINE characters, each at
#: most 4 bytes of UTF-8); a body over MAX_LINE characters is refused 413 as well.
MAX_BODY_BYTES = 4 * MAX_LINE


async def read_body(request: Request, op: str | None = None) -> bytes:
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


def decode_object(raw: bytes, op: str | None) -> dict[str, Any]:
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


def who(command: Any) -> str:
    person = getattr(command, "person", None)
    if isinstance(person, PersonRef):
        return person.masked()
    return f"claim {getattr(command, 'claim_id', '?')}"


_REGION_PREFIX = re.compile(r"^[0-9]{1,6}$")


def scope(token: Token, region: str | None) -> str | None:
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


def day(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid_input", f"{name} must be a date YYYY-MM-DD; got "
                       f"{text[:40]!r}") from None
