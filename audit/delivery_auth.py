"""Who may deliver events to the sink and the dead-letter sink.

Off by default (and always in local mode): anyone who reaches the port may post.
With `AUDIT_OIDC_AUDIENCE` set, every delivery must carry `Authorization: Bearer
<JWT>` as Knative Eventing sends it with the `authentication-oidc` feature on: a
service-account token from the cluster's OIDC issuer whose audience is the one
the Trigger's `subscriber.audience` names. The issuer and its signing keys come
from the cluster's OIDC discovery document (`/.well-known/openid-configuration`,
then its `jwks_uri`), as Knative's own verifier does
(knative/eventing knative-v1.22.2 pkg/auth/verifier.go).

A missing or invalid token is a 401; discovery or keys that cannot be fetched are
a 503 with Retry-After, so the broker retries instead of dead-lettering.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

import httpx
import jwt
from starlette.requests import Request
from starlette.responses import Response

from audit import metrics
from audit.auth import bearer_token
from common.web.errors import ApiError

logger = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]

DISCOVERY_PATH = "/.well-known/openid-configuration"
# Asymmetric algorithms only: "none" and the HMAC family are never accepted.
SAFE_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# Kubernetes signs service-account tokens with RS256 unless told otherwise.
DEFAULT_ALGORITHMS = ("RS256",)
FETCH_TIMEOUT_SECONDS = 5.0
CLOCK_SKEW_SECONDS = 10
RETRY_AFTER_SECONDS = "1"
# Knative reuses a token until it nears expiry: remember the verified ones.
VERIFIED_CACHE_SIZE = 256


class InvalidToken(Exception):
    """The sender's token is missing, malformed, expired or not for us (a 401)."""


class IssuerUnavailable(Exception):
    """Discovery or the signing keys could not be fetched (a 503: not the sender's fault)."""


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """How to verify delivery tokens (built from AUDIT_OIDC_* in settings)."""

    audience: str
    discovery_url: str
    issuer: str | None = None
    ca_file: Path | None = None
    token_file: Path | None = None
    subjects: tuple[str, ...] = ()


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def _read_token(token_file: Path | None) -> dict[str, str]:
    """Headers for reading discovery and keys: the API server wants a bearer token
    (a projected one rotates, so the file is read on every fetch)."""
    if token_file is None:
        return {}
    return {"Authorization": f"Bearer {token_file.read_text().strip()}"}


class _ClusterKeys(jwt.PyJWKClient):
    """PyJWKClient that presents the current service-account token on each fetch."""

    def __init__(self, uri: str, config: OidcConfig) -> None:
        super().__init__(
            uri,
            timeout=FETCH_TIMEOUT_SECONDS,
            ssl_context=_ssl_context(config.ca_file),
        )
        self._token_file = config.token_file

    def fetch_data(self) -> Any:
        try:
            self.headers = _read_token(self._token_file)
        except OSError as exc:
            raise jwt.PyJWKClientConnectionError(f"cannot read the token file: {exc}") from exc
        return super().fetch_data()


@dataclass(frozen=True, slots=True)
class _Issuer:
    name: str
    algorithms: tuple[str, ...]
    keys: _ClusterKeys


def subject_allowed(subject: str, patterns: Sequence[str]) -> bool:
    """True when `patterns` is empty or one matches: exact, or a prefix ending in `*`
    (the glob EventPolicy's `from.sub` takes)."""
    if not patterns:
        return True
    return any(subject.startswith(p[:-1]) if p.endswith("*") else subject == p for p in patterns)


class OidcVerifier:
    """Verifies one token against the discovered issuer (blocking: call in a thread)."""

    def __init__(self, config: OidcConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._issuer: _Issuer | None = None
        self._lock = threading.Lock()
        self._clock = clock
        # token -> (subject, exp): a signature check costs ~0.25 ms, a lookup nothing.
        self._verified: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._verified_lock = threading.Lock()

    def _discover(self) -> _Issuer:
        with self._lock:
            if self._issuer is not None:
                return self._issuer
            url = self.config.discovery_url.rstrip("/") + DISCOVERY_PATH
            try:
                with httpx.Client(
                    verify=_ssl_context(self.config.ca_file),
                    timeout=FETCH_TIMEOUT_SECONDS,
                    follow_redirects=False,
                ) as client:
                    response = client.get(url, headers=_read_token(self.config.token_file))
                response.raise_for_status()
                document = response.json()
                name, jwks_uri = document["issuer"], document["jwks_uri"]
            except (httpx.HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
                raise IssuerUnavailable(f"OIDC discovery at {url} failed: {exc}") from exc
            if not isinstance(name, str) or not isinstance(jwks_uri, str):
                raise IssuerUnavailable(f"OIDC discovery at {url}: no issuer or jwks_uri")
            if self.config.issuer is not None and name != self.config.issuer:
                raise IssuerUnavailable(
                    f"OIDC discovery at {url} names issuer {name!r}, "
                    f"not AUDIT_OIDC_ISSUER {self.config.issuer!r}"
                )
            offered = document.get("id_token_signing_alg_values_supported")
            algorithms = (
                tuple(a for a in (offered or DEFAULT_ALGORITHMS) if a in SAFE_ALGORITHMS)
                or DEFAULT_ALGORITHMS
            )
            self._issuer = _Issuer(name, algorithms, _ClusterKeys(jwks_uri, self.config))
            logger.info(
                "OIDC issuer discovered",
                extra={"issuer": name, "jwks_uri": jwks_uri, "algorithms": list(algorithms)},
            )
            return self._issuer

    def verify(self, token: str) -> str:
        """The token's subject, if the token is valid for us; raises otherwise."""
        with self._verified_lock:
            known = self._verified.get(token)
        if known is not None and self._clock() < known[1] + CLOCK_SKEW_SECONDS:
            return known[0]
        subject, expiry = self._verify_fully(token)
        with self._verified_lock:
            self._verified[token] = (subject, expiry)
            while len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return subject

    def _verify_fully(self, token: str) -> tuple[str, float]:
        issuer = self._discover()
        try:
            key = issuer.keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise IssuerUnavailable(f"the issuer's keys could not be fetched: {exc}") from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError, jwt.PyJWKError) as exc:
            # Malformed token, or signed with a key the issuer does not publish.
            raise InvalidToken(f"token not signed by the cluster's issuer: {exc}") from exc
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(issuer.algorithms),
                audience=self.config.audience,
                issuer=issuer.name,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(str(exc)) from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject_allowed(subject, self.config.subjects):
            raise InvalidToken(f"subject {subject!r} may not deliver events here")
        return subject, float(claims["exp"])


def _unauthorized(detail: str) -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="audit-delivery", error="invalid_token"'},
    )


class DeliveryAuth:
    """Guards the sink endpoints; without a verifier every request passes."""

    def __init__(self, verifier: OidcVerifier | None) -> None:
        self._verifier = verifier

    @property
    def required(self) -> bool:
        return self._verifier is not None

    def describe(self) -> str:
        """One line for the startup log."""
        if self._verifier is None:
            return "off (AUDIT_OIDC_AUDIENCE unset: any caller that reaches the port may post)"
        config = self._verifier.config
        return f"OIDC bearer token, audience {config.audience!r}, discovery {config.discovery_url}"

    async def check(self, request: Request) -> None:
        """Raise 401 (or 503 when the issuer cannot be reached) unless the request
        carries a valid token."""
        if self._verifier is None:
            return
        token = bearer_token(request)
        try:
            if token is None:
                raise InvalidToken("send Authorization: Bearer <OIDC token>")
            # PyJWKClient fetches with urllib: keep it off the event loop.
            await asyncio.to_thread(self._verifier.verify, token)
        except InvalidToken as exc:
            metrics.REJECTED.labels("unauthorized").inc()
            logger.warning("delivery refused: %s", exc)
            raise _unauthorized(str(exc)) from None
        except IssuerUnavailable as exc:
            metrics.REJECTED.labels("issuer_unavailable").inc()
            logger.warning("delivery not verified: %s", exc)
            raise ApiError(
                503,
                "issuer_unavailable",
                "the token could not be verified right now; retry",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            ) from None

    def guard(self, endpoint: Endpoint) -> Endpoint:
        """`endpoint`, answering 401 first when the delivery is not authenticated."""

        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            await self.check(request)
            return await endpoint(request)

        return guarded
