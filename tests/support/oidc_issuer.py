"""A real OIDC issuer for tests, shaped like the Kubernetes API server's: a
discovery document and a JWKS on a free 127.0.0.1 port (a thread of the test
process), keys generated here with `cryptography`, and tokens minted like
service-account tokens (`iss`, `sub`, `aud`, `iat`, `nbf`, `exp`, `kid`).

Like the API server it can demand a bearer token before it shows either document.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devstack import free_port

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up are not test failures."""


class OidcIssuer:
    """Serves discovery and keys; `token()` mints what the cluster would issue."""

    def __init__(self, *, issuer: str | None = None, reader_token: str | None = None) -> None:
        self.port = free_port()
        self.issuer = issuer or f"https://issuer.test/{self.port}"
        self.reader_token = reader_token
        self.keys: dict[str, rsa.RSAPrivateKey] = {"key-1": new_key()}
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.url + JWKS_PATH,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = list(self.keys.items())
        return {
            "keys": [
                {
                    **RSAAlgorithm.to_jwk(k.public_key(), as_dict=True),
                    "kid": kid,
                    "use": "sig",
                    "alg": "RS256",
                }
                for kid, k in keys
            ]
        }

    def rotate(self) -> str:
        """Publish a new signing key (the old one stays); returns its kid."""
        with self._lock:
            kid = f"key-{len(self.keys) + 1}"
            self.keys[kid] = new_key()
            return kid

    def token(
        self,
        *,
        audience: str,
        subject: str = "system:serviceaccount:user-audit:audit-user-created-oidc",
        issuer: str | None = None,
        lifetime: float = 600.0,
        issued: float | None = None,
        kid: str = "key-1",
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        now = time.time() if issued is None else issued
        claims = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "aud": [audience],
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now + lifetime),
        }
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                authorization = self.headers.get("Authorization")
                issuer.requests.append((self.path, authorization))
                if issuer.reader_token and authorization != f"Bearer {issuer.reader_token}":
                    self._answer(401, {"message": "Unauthorized"})
                elif self.path == DISCOVERY_PATH:
                    self._answer(200, issuer.discovery())
                elif self.path == JWKS_PATH:
                    self._answer(200, issuer.jwks())
                else:
                    self._answer(404, {"message": "not found"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def start(self) -> OidcIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> OidcIssuer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
