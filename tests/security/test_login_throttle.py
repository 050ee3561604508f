"""Failed-login throttling holds under a burst and behind a reverse proxy.

- A burst of concurrent wrong passwords gets no more 401s (guesses checked) than the
  limit allows: attempts still being hashed count against it.
- Behind a trusted proxy (`FORWARDED_ALLOW_IPS`), each client is throttled by its own
  address from `X-Forwarded-For`, not by the proxy's; a client that is not a trusted
  proxy cannot choose its address with that header.
- The administrator's correct bearer token is never throttled.

Clients connect from distinct loopback addresses (127.0.x.y) so tests do not share
a per-address budget; 127.0.0.1 plays the trusted proxy (Contour's Envoy).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from devstack import ServiceProcess, new_token

PER_USER = 5
PER_IP = 8
BURST = 60
PROXY = "127.0.0.1"
ADMIN_TOKEN = new_token("user-admin")


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("throttle")
    process = ServiceProcess(
        "user",
        env={
            "DATA_DIR": str(root / "data"),
            "DATABASE_URL": "",
            "K_SINK": "",
            "USER_ADMIN_TOKEN": ADMIN_TOKEN,
            "LOGIN_MAX_FAILURES_PER_USER": str(PER_USER),
            "LOGIN_MAX_FAILURES_PER_IP": str(PER_IP),
            "LOGIN_WINDOW_SECONDS": "300",
            "FORWARDED_ALLOW_IPS": PROXY,
            # A verification that takes a few milliseconds, one at a time: a burst is
            # still arriving while the first guesses are being checked, as in production.
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "8192",
            "ARGON2_PARALLELISM": "1",
            "HASH_CONCURRENCY": "1",
        },
        log_dir=root,
        ready_path="/healthz",  # no K_SINK: /readyz says not ready, by design
    )
    process.start(timeout=60)
    try:
        yield process
    finally:
        process.stop()


def client_from(address: str, base_url: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url, timeout=30, transport=httpx.HTTPTransport(local_address=address)
    )


def create(base_url: str, name: str, password: str) -> str:
    with client_from("127.0.9.1", base_url) as client:
        response = client.post("/v1/user", json={"name": name, "password": password})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def burst(
    base_url: str, requests: list[tuple[str, dict[str, str]]], path: str
) -> Counter[int]:
    """Send every (client address, headers) GET at once; count the statuses."""

    async def one(address: str, headers: dict[str, str]) -> int:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(base_url=base_url, timeout=60, transport=transport) as c:
            return (await c.get(path, headers=headers)).status_code

    statuses = await asyncio.gather(*(one(a, h) for a, h in requests))
    return Counter(statuses)


def test_burst_on_one_user_checks_no_more_guesses_than_the_limit(user: ServiceProcess) -> None:
    victim = create(user.url, "burst-victim", "the-right-password")
    requests = [
        (f"127.0.10.{index + 1}", basic(victim, f"guess-{index}")) for index in range(BURST)
    ]
    statuses = asyncio.run(burst(user.url, requests, f"/v1/users/{victim}"))
    assert statuses[401] <= PER_USER, statuses
    assert statuses[401] + statuses[429] == BURST, statuses


def test_burst_from_one_client_checks_no_more_guesses_than_the_limit(
    user: ServiceProcess,
) -> None:
    target = create(user.url, "spray-target", "the-right-password")
    requests = [("127.0.11.1", basic(str(uuid.uuid4()), "spray")) for _ in range(BURST)]
    statuses = asyncio.run(burst(user.url, requests, f"/v1/users/{target}"))
    assert statuses[401] <= PER_IP, statuses
    assert statuses[401] + statuses[429] == BURST, statuses


def fail_until_throttled(client: httpx.Client, path: str, headers: dict[str, str]) -> None:
    """Wrong passwords for random ids until the client's address is throttled."""
    for _ in range(PER_IP):
        response = client.get(path, headers={**headers, **basic(str(uuid.uuid4()), "x")})
        assert response.status_code == 401, response.text
    response = client.get(path, headers={**headers, **basic(str(uuid.uuid4()), "x")})
    assert response.status_code == 429, response.text


def test_behind_the_proxy_each_client_has_its_own_budget(user: ServiceProcess) -> None:
    owner = create(user.url, "proxied", "proxied-password")
    path = f"/v1/users/{owner}"
    with client_from(PROXY, user.url) as proxy:
        fail_until_throttled(proxy, path, {"X-Forwarded-For": "203.0.113.7"})
        # Another client through the same proxy is served.
        other = proxy.get(
            path,
            headers={"X-Forwarded-For": "203.0.113.8", **basic(owner, "proxied-password")},
        )
        assert other.status_code == 200, other.text
        # A client cannot shed its address by prepending one: the proxy appends the
        # address it saw, and that is the one used.
        spoofed = proxy.get(
            path,
            headers={
                "X-Forwarded-For": "198.51.100.1, 203.0.113.7",
                **basic(owner, "proxied-password"),
            },
        )
        assert spoofed.status_code == 429, spoofed.text
    assert '"client_ip":"203.0.113.7"' in user.log_text().replace(" ", "")


def test_a_client_that_is_not_a_trusted_proxy_cannot_choose_its_address(
    user: ServiceProcess,
) -> None:
    owner = create(user.url, "direct", "direct-password")
    path = f"/v1/users/{owner}"
    with client_from("127.0.12.1", user.url) as client:
        for index in range(PER_IP):
            spoofed = {"X-Forwarded-For": f"192.0.2.{index + 1}"}
            response = client.get(path, headers={**spoofed, **basic(str(uuid.uuid4()), "x")})
            assert response.status_code == 401, response.text
        blocked = client.get(
            path, headers={"X-Forwarded-For": "192.0.2.200", **basic(owner, "direct-password")}
        )
        assert blocked.status_code == 429, blocked.text


def test_the_admin_token_is_not_throttled(user: ServiceProcess) -> None:
    owner = create(user.url, "admin-target", "admin-target-password")
    path = f"/v1/users/{owner}"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with client_from("127.0.13.1", user.url) as client:
        fail_until_throttled(client, path, {})
        assert client.get(path, headers=admin).status_code == 200
        # A wrong token from that address is still refused as throttled.
        wrong = client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}x"})
        assert wrong.status_code == 429, wrong.text
    with client_from(PROXY, user.url) as proxy:
        fail_until_throttled(proxy, path, {"X-Forwarded-For": "203.0.113.9"})
        response = proxy.get(path, headers={"X-Forwarded-For": "203.0.113.9", **admin})
        assert response.status_code == 200, response.text
