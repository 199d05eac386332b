"""API tokens on requests: who is calling and whether their role may do what they ask."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.http.errors import ApiError
from adapters.stores.tokens import Token, TokenStore

_BEARER = HTTPBearer(auto_error=False, description="An API token (benefitpool token create)")


def bearer_secret(request: Request) -> str | None:
    """The secret of the request's `Authorization: Bearer` header, read as HTTPBearer reads
    it (the command routes skip dependency injection: they are the hot path)."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret if scheme.lower() == "bearer" else None


class Auth:
    """Checks the tokens of one token store."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    def permitted(self, secret: str | None, action: str | None) -> Token:
        """The token of an `Authorization: Bearer` secret, if it may use `action` (None: any
        token); on the event loop, a recently checked token costs no database round trip."""
        if not secret:
            raise ApiError(401, "unauthorized", "an API token is required: "
                           "Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
        token = self.tokens.authenticate(secret.strip())
        if token is None:
            raise ApiError(401, "unauthorized", "the API token is unknown or revoked",
                           headers={"WWW-Authenticate": "Bearer"})
        if action is not None and not token.may(action):
            raise ApiError(403, "forbidden", f"a {token.role} token may not use {action}")
        return token

    def allowed(self, action: str | None) -> Callable[..., Any]:
        """A dependency giving the calling token, if it may use `action`."""
        async def check(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                               Depends(_BEARER)]) -> Token:
            return self.permitted(credentials.credentials if credentials else None, action)
        return check
