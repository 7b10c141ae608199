"""Bearer tokens of the service: the endpoints that move a rollout name who acted (the name is
recorded in the registry; the token never leaves the request), and scoring may require one."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
TURN_ON = 'start the service with ML_ASSETS_SERVE_ADMIN_TOKENS=\'{"<your name>": "<a long random token>"}\''


def holder(presented: str, tokens: dict[str, SecretStr]) -> str | None:
    """The name whose token is ``presented``. Every token is compared, in constant time, so
    the answer's timing tells neither which token nor how much of one matched."""
    found = None
    for name, token in tokens.items():
        if hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
            found = name
    return found


def _unauthorized(what: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail=f"{what} needs a valid bearer token: send 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def admin(tokens: dict[str, SecretStr]):
    """A dependency answering who may move a rollout: 403 while no token is configured, 401
    without a valid one."""

    def require_admin(credentials: Credentials) -> str:
        if not tokens:
            raise HTTPException(status_code=403, detail=f"admin endpoints are off: {TURN_ON}")
        name = holder(credentials.credentials, tokens) if credentials else None
        if name is None:
            raise _unauthorized("this admin endpoint")
        return name

    return require_admin


def scoring(token: SecretStr | None):
    """A dependency for the scoring endpoints: open without a configured token."""

    def require_score_token(credentials: Credentials) -> None:
        if token is not None and (
            credentials is None or holder(credentials.credentials, {"": token}) is None
        ):
            raise _unauthorized("scoring")

    return require_score_token


def scope_authorized(scope, token: SecretStr | None) -> bool:
    """The same rule on a raw ASGI scope (the scoring fast path)."""
    if token is None:
        return True
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, presented = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and holder(presented.strip(), {"": token}) is not None
    return False
