"""Thin clients for what a user and an auditor do from outside, plus the few helpers
the scenarios share (distinctive passwords, posting CloudEvents, reading metrics)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.polling import wait_until

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: For sign-ups under load: longer than the Ingress's route timeout (60 s, k8s/user/ingress.yaml),
#: so that a slow answer is Envoy's 504 rather than the client giving up first.
SIGN_UP_TIMEOUT = httpx.Timeout(90.0, connect=10.0)
#: "Not yet" while polling: a port-forward or a restarting service may drop a connection.
TRANSIENT = (httpx.TransportError,)


def distinctive_password(label: str) -> str:
    """A password that cannot appear anywhere by accident, so a scan for it is meaningful."""
    return f"pw-{label}-{secrets.token_hex(12)}-Zq!"


def basic(user_id: str, password: str) -> httpx.BasicAuth:
    return httpx.BasicAuth(user_id, password)


class UserApi:
    """The user service as its users see it (through the ingress on a cluster)."""

    def __init__(self, base_url: str, admin_token: str | None = None) -> None:
        self.base_url = base_url
        self.admin_token = admin_token
        self.client = httpx.Client(base_url=base_url, timeout=TIMEOUT)
        #: Every response body this client saw, for the password scan.
        self.transcript: list[str] = []

    def _keep(self, response: httpx.Response) -> httpx.Response:
        request = response.request
        self.transcript.append(
            f"{request.method} {request.url} -> {response.status_code} "
            f"{response.headers} {response.text}"
        )
        return response

    def create(self, name: str, password: str) -> dict[str, Any]:
        """The original curl: `POST /v1/user {"name", "password"}` -> 201 `{"id", "name"}`."""
        response = self._keep(
            self.client.post("/v1/user", json={"name": name, "password": password})
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def get(self, user_id: str, auth: httpx.Auth) -> httpx.Response:
        return self._keep(self.client.get(f"/v1/users/{user_id}", auth=auth))

    def update(self, user_id: str, auth: httpx.Auth, **changes: str) -> httpx.Response:
        return self._keep(self.client.patch(f"/v1/users/{user_id}", json=changes, auth=auth))

    def delete(self, user_id: str, auth: httpx.Auth) -> httpx.Response:
        return self._keep(self.client.delete(f"/v1/users/{user_id}", auth=auth))

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._keep(self.client.request(method, path, **kwargs))

    def close(self) -> None:
        self.client.close()


class AuditApi:
    """audit's read API."""

    def __init__(self, base_url: str, read_token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {read_token}"} if read_token else {}
        self.client = httpx.Client(base_url=base_url, timeout=TIMEOUT, headers=headers)
        self.transcript: list[str] = []

    def _list(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every page of a list endpoint."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 1000, **params}
        while True:
            response = self.client.get(path, params=query)
            assert response.status_code == 200, (
                f"GET {path}: {response.status_code} {response.text}"
            )
            self.transcript.append(response.text)
            page = response.json()
            items += page["items"]
            if not page.get("next_cursor"):
                return items
            query["cursor"] = page["next_cursor"]

    def events(self, **params: Any) -> list[dict[str, Any]]:
        """`GET /v1/events` with filters (`type`, `subject`, `id`, `source`, `since`)."""
        return self._list("/v1/events", params)

    def dead_letters(self, **params: Any) -> list[dict[str, Any]]:
        return self._list("/v1/dead-letters", params)

    def count(self, event_type: str) -> int:
        """Stored events of one type (`GET /v1/stats`): cheap enough to poll under load."""
        response = self.client.get("/v1/stats")
        assert response.status_code == 200, f"GET /v1/stats: {response.status_code} {response.text}"
        return int(response.json()["types"].get(event_type, 0))

    def wait_events(
        self, *, count: int = 1, timeout: float = 30, **params: Any
    ) -> list[dict[str, Any]]:
        """Poll until at least `count` events match; returns all that match then."""
        return wait_until(
            lambda: self.events(**params),
            lambda items: len(items) >= count,
            timeout=timeout,
            what=f"{count} audit event(s) with {params}",
            describe=lambda items: f"{len(items)} so far",
            retry_on=TRANSIENT,
        )

    def wait_dead_letters(
        self, *, count: int = 1, timeout: float = 30, **params: Any
    ) -> list[dict[str, Any]]:
        return wait_until(
            lambda: self.dead_letters(**params),
            lambda items: len(items) >= count,
            timeout=timeout,
            what=f"{count} dead letter(s) with {params}",
            describe=lambda items: f"{len(items)} so far",
            retry_on=TRANSIENT,
        )

    def close(self) -> None:
        self.client.close()


def iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.tzinfo is not None, f"time {value!r} has no offset"
    return moment


def post_event(
    broker_ingress_url: str,
    *,
    event_type: str,
    data: bytes,
    source: str = "/e2e/tests",
    subject: str | None = None,
    event_id: str | None = None,
) -> tuple[str, httpx.Response]:
    """Post one binary-mode CloudEvent to the broker ingress, as any producer would."""
    event_id = event_id or str(uuid.uuid4())
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": source,
        "ce-type": event_type,
        "ce-time": iso_now(),
        "content-type": "application/json",
    }
    if subject is not None:
        headers["ce-subject"] = subject
    response = httpx.post(broker_ingress_url, content=data, headers=headers, timeout=TIMEOUT)
    return event_id, response


def metric_sum(texts: Iterable[str], name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`, over several
    Prometheus texts (one per process or pod). Counters are matched with or without
    their `_total` suffix, as the parser names families without it."""
    total = 0.0
    wanted = {name, name.removesuffix("_total") + "_total"}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in wanted and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += sample.value
    return total


def assert_nowhere(secret: str, places: Mapping[str, str]) -> None:
    """`secret` appears in none of `places` (name -> text). The message shows where, with
    the secret masked, never the whole text."""
    found = []
    for name, text in places.items():
        at = text.find(secret)
        if at >= 0:
            context = text[max(0, at - 120) : at + len(secret) + 120].replace(secret, "<SECRET>")
            found.append(f"{name}: ...{context}...")
    assert not found, "the password leaked:\n" + "\n".join(found)


def create_many(
    base_url: str, count: int, *, password: str, label: str, concurrency: int = 64
) -> list[dict[str, Any]]:
    """`count` users created at once (at most `concurrency` requests in flight); every
    answer must be 201. Returns the created users in request order."""
    import asyncio

    async def run() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(
            base_url=base_url, timeout=SIGN_UP_TIMEOUT, limits=limits
        ) as client:

            async def one(index: int) -> dict[str, Any]:
                async with gate:
                    response = await client.post(
                        "/v1/user", json={"name": f"{label} {index}", "password": password}
                    )
                assert response.status_code == 201, (
                    f"user {index}: {response.status_code} {response.text}"
                )
                body: dict[str, Any] = response.json()
                return body

            return list(await asyncio.gather(*(one(i) for i in range(count))))

    return asyncio.run(run())
