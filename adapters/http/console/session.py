"""The console's sign-in: the API token in a cookie, and a CSRF token derived from it.

The cookie holds the API token itself (HttpOnly: no script reads it; Secure; SameSite=Strict:
no other site's page sends it; Path=/ui). Every form that writes carries `csrf`, an HMAC of
the token, checked against the cookie's: a page of another site can neither read it nor
send the cookie with its own POST (ADR 91).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

COOKIE = "bp_token"
LANG_COOKIE = "bp_lang"
PATH = "/ui"
MAX_AGE = 8 * 3600  # a working day


def token_of(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def csrf_of(secret: str) -> str:
    return hmac.new(secret.encode(), b"benefitpool console csrf", hashlib.sha256).hexdigest()


def csrf_ok(secret: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_of(secret), str(sent))


def sign_in(response: Response, secret: str) -> None:
    response.set_cookie(COOKIE, secret, max_age=MAX_AGE, path=PATH, secure=True,
                        httponly=True, samesite="strict")


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, secure=True, httponly=True, samesite="strict")


def language(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if wanted == "en" else "zh"
