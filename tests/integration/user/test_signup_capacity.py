"""Sign-ups past the hashing capacity get 503 + Retry-After at once, instead of queueing
without bound: HASH_CONCURRENCY hashes run, HASH_QUEUE_LIMIT wait, the rest are refused
and nothing of them is stored."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.integration.user.conftest import StartUser
from tests.integration.user.support import ADMIN, create_user, metric

BURST = 16


async def sign_up_burst(base_url: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post("/v1/user", json={"name": f"burst-{i}", "password": "pw"})
                    for i in range(count)
                )
            )
        )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sign_ups_beyond_the_queue_get_503_with_retry_after(start_user: StartUser) -> None:
    service = start_user(
        # A hash that takes a while, one at a time, two more may wait.
        ARGON2_TIME_COST="4",
        ARGON2_MEMORY_KIB="16384",
        ARGON2_PARALLELISM="1",
        HASH_CONCURRENCY="1",
        HASH_QUEUE_LIMIT="2",
    )
    responses = asyncio.run(sign_up_burst(service.url, BURST))
    statuses = sorted(response.status_code for response in responses)
    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 503]
    assert len(created) + len(refused) == BURST, statuses
    assert 1 <= len(created) < BURST, statuses
    for response in refused:
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"] == "busy"
    assert metric(service.url, 'user_password_hashes_refused_total{operation="hash"}') == len(
        refused
    )
    # Only the accepted ones exist, and the service serves again once the burst is over.
    listed = httpx.get(f"{service.url}/v1/users", params={"limit": 100}, headers=ADMIN)
    assert {u["id"] for u in listed.json()["items"]} == {r.json()["id"] for r in created}
    create_user(service.url, "after the burst")
