"""Bearer-token protection of the read API (`AUDIT_READ_TOKEN`)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from common.web.errors import ApiError

Endpoint = Callable[[Request], Awaitable[Response]]


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ReadAuth:
    """With a token configured, a reader must present it; without one, all may read."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def required(self) -> bool:
        return self._token is not None

    def check(self, request: Request) -> None:
        """Raise 401 unless the request carries the configured token."""
        if self._token is None:
            return
        given = bearer_token(request)
        # compare_digest takes as long for a near miss as for a far one.
        if given is None or not hmac.compare_digest(given.encode(), self._token):
            raise ApiError(
                401,
                "unauthorized",
                "send Authorization: Bearer <AUDIT_READ_TOKEN>",
                headers={"WWW-Authenticate": 'Bearer realm="audit"'},
            )

    def guard(self, endpoint: Endpoint) -> Endpoint:
        """`endpoint`, answering 401 first when the token is missing or wrong."""

        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            self.check(request)
            return await endpoint(request)

        return guarded
