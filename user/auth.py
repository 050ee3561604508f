"""Who is calling: a user with HTTP Basic (user id + password, checked against the
stored argon2id hash) or the administrator with `Bearer <USER_ADMIN_TOKEN>`.

Every failed login gets the same 401 body, whatever was wrong, and failures
are rate-limited per client IP and per user id (429 with Retry-After). A login
being checked holds a place in both limits until it is decided, so a burst of
concurrent guesses gets no more checks than the limit. The client IP is the
connection's, or the one a trusted proxy put in X-Forwarded-For (see
common/web/server.py). The correct admin token is never throttled.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Counter
from pydantic import SecretStr
from starlette.requests import Request

from common.web.errors import ApiError
from user.passwords import PasswordHasher
from user.ratelimit import SlidingWindowLimiter
from user.store import UserStore
from user.validation import canonical_user_id

logger = logging.getLogger(__name__)

LOGIN_FAILURES = Counter("user_login_failures_total", "Failed logins (wrong credentials).")
LOGIN_THROTTLED = Counter(
    "user_login_throttled_total", "Logins refused because of too many recent failures."
)

CHALLENGE = 'Basic realm="user", charset="UTF-8", Bearer realm="user"'


def unauthorized() -> ApiError:
    """The one 401 every authentication failure gets (nothing says what was wrong)."""
    return ApiError(
        401,
        "unauthorized",
        "valid credentials are required",
        headers={"WWW-Authenticate": CHALLENGE},
    )


def forbidden(detail: str) -> ApiError:
    return ApiError(403, "forbidden", detail)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user (by id) or the administrator (user_id None)."""

    user_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.user_id is None

    def require_admin(self) -> None:
        if not self.is_admin:
            raise forbidden("only the administrator may do this")

    def require_self_or_admin(self, user_id: str) -> None:
        if not self.is_admin and self.user_id != user_id:
            raise forbidden("a user may only access their own record")


ADMIN = Principal(None)


class LoginThrottle:
    """Failed-login limits per client IP and per user id."""

    def __init__(self, window: float, per_ip: int, per_user: int) -> None:
        self.by_ip = SlidingWindowLimiter(per_ip, window)
        self.by_user = SlidingWindowLimiter(per_user, window)

    def check(self, ip: str, user_key: str | None) -> None:
        """429 with Retry-After when either key has failed too often lately."""
        waits = [self.by_ip.retry_after(ip)]
        if user_key is not None:
            waits.append(self.by_user.retry_after(user_key))
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            LOGIN_THROTTLED.inc()
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "too_many_requests",
                "too many failed logins; try again later",
                headers={"Retry-After": str(seconds)},
                retry_after=seconds,
            )

    def failed(self, ip: str, user_key: str | None) -> None:
        LOGIN_FAILURES.inc()
        self.by_ip.record(ip)
        if user_key is not None:
            self.by_user.record(user_key)

    @contextmanager
    def attempt(self, ip: str, user_key: str) -> Iterator[LoginAttempt]:
        """Check (429), then hold a place in both limits until the block ends; the
        attempt counts as a failure only if the block marks it so."""
        self.check(ip, user_key)
        self.by_ip.reserve(ip)
        self.by_user.reserve(user_key)
        attempt = LoginAttempt()
        try:
            yield attempt
        finally:
            if attempt.failed:
                LOGIN_FAILURES.inc()
            self.by_ip.release(ip, count=attempt.failed)
            self.by_user.release(user_key, count=attempt.failed)


class LoginAttempt:
    """Set `failed` when the credentials turned out wrong."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False


class Authenticator:
    """Turns a request's Authorization header into a Principal, or raises 401/429."""

    def __init__(
        self,
        store: UserStore,
        hasher: PasswordHasher,
        admin_token: SecretStr | None,
        throttle: LoginThrottle,
    ) -> None:
        self.store = store
        self.hasher = hasher
        self._admin_token = admin_token.get_secret_value().encode() if admin_token else None
        self.throttle = throttle

    async def authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            raise unauthorized()
        scheme, _, credentials = header.strip().partition(" ")
        # Bounded: the key is kept in memory for the window.
        ip = (request.client.host if request.client else "unknown")[:64]
        scheme = scheme.lower()
        if scheme == "bearer":
            return self._bearer(ip, credentials.strip())
        if scheme == "basic":
            return await self._basic(ip, credentials.strip())
        raise unauthorized()

    def _bearer(self, ip: str, token: str) -> Principal:
        presented = token.encode("utf-8", "surrogateescape")
        # Before the throttle: others' failures from a shared address must not lock out
        # the administrator, and a constant-time compare gives a guesser nothing to time.
        if self._admin_token is not None and hmac.compare_digest(presented, self._admin_token):
            return ADMIN
        self.throttle.check(ip, None)
        self.throttle.failed(ip, None)
        logger.warning("login failed", extra={"scheme": "bearer", "client_ip": ip})
        raise unauthorized()

    async def _basic(self, ip: str, credentials: str) -> Principal:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            self.throttle.check(ip, None)
            self.throttle.failed(ip, None)
            raise unauthorized() from None
        username, separator, password = decoded.partition(":")
        user_id = canonical_user_id(username)
        user_key = user_id or username[:64]
        with self.throttle.attempt(ip, user_key) as attempt:
            stored = await self.store.password_hash(user_id) if separator and user_id else None
            # Verified even for an unknown id, so timing does not tell ids apart.
            if await self.hasher.verify(stored, password):
                assert user_id is not None
                return Principal(user_id)
            attempt.failed = True
        logger.warning(
            "login failed", extra={"scheme": "basic", "client_ip": ip, "user_id": user_id}
        )
        raise unauthorized()
