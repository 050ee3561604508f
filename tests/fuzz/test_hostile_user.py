"""Hostile input at the user service, against a real `python -m user`.

Bursts of wrong passwords for one user, sent at the same moment: no more of them are
checked (401) than the per-user limit allows; the rest are throttled (429). And
hostile headers and bodies on sign-up and login: answered below 500, service ready.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import strategies as st

from tests.fuzz import hostile
from tests.fuzz.harness import TEST_TIMEOUT, WEIGHTS, Tally, Violation, run_property
from tests.fuzz.targets import UserTarget
from tests.fuzz.wire import NoAnswer, exchange

PER_USER = 5
#: method, path, headers, body
Case = tuple[str, str, list[tuple[bytes, bytes]], bytes]

WEIGHTS.update(user_login_burst=0.2, user_hostile_requests=2)


@pytest.fixture
def user(tmp_path: Path) -> Iterator[UserTarget]:
    # The per-address limit is out of the way: every burst comes from 127.0.0.1.
    env = {
        "LOGIN_MAX_FAILURES_PER_USER": str(PER_USER),
        "LOGIN_MAX_FAILURES_PER_IP": "1000000",
    }
    with UserTarget(tmp_path, env) as target:
        yield target


def basic(user_id: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user_id}:{password}".encode()).decode()


async def burst(url: str, user_id: str, size: int) -> list[int]:
    limits = httpx.Limits(max_connections=size)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        wrong = {"Authorization": basic(user_id, "wrong-password")}
        replies = await asyncio.gather(
            *(client.get(f"/v1/users/{user_id}", headers=wrong) for _ in range(size))
        )
    return [r.status_code for r in replies]


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_user_login_burst(user: UserTarget) -> None:
    """N concurrent wrong passwords for one fresh user: at most the limit get a 401."""

    def check(size: int, tally: Tally) -> None:
        created = httpx.post(
            user.url + "/v1/user",
            json={"name": "burst", "password": f"Right-{uuid.uuid4().hex}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        statuses = asyncio.run(burst(user.url, created.json()["id"], size))
        tally.statuses.update(statuses)
        if any(s >= 500 for s in statuses):
            tally.server_errors += 1
            raise Violation(f"burst of {size}: {sorted(statuses)}")
        checked = statuses.count(401)
        if checked > PER_USER or set(statuses) - {401, 429}:
            raise Violation(
                f"burst of {size} wrong passwords: {checked} x 401 (limit {PER_USER}), "
                f"{statuses.count(429)} x 429"
            )

    run_property("user_login_burst", st.integers(PER_USER + 1, 60), check, ci=5, explicit=[60])


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_user_hostile_requests(user: UserTarget) -> None:
    """Sign-up bodies nested 3,000 deep, huge, with extreme numbers or hostile names;
    credentials and headers with non-ASCII, latin-1 and control characters."""
    body = st.one_of(
        hostile.deep_json.map(lambda d: d.encode()),
        hostile.huge_json.map(lambda h: h.encode()),
        hostile.extreme_number.map(lambda n: b'{"name":"x","password":%s}' % n.encode()),
        hostile.non_ascii_text.map(
            lambda t: json.dumps({"name": t, "password": "long-enough-1"}).encode()
        ),
    )
    signup: st.SearchStrategy[Case] = st.tuples(
        st.just("POST"), st.just("/v1/user"), st.just([]), body
    )
    credentials = st.one_of(
        hostile.hostile_value.map(lambda v: b"Basic " + base64.b64encode(b"id:" + v)),
        hostile.hostile_value.map(lambda v: b"Basic " + v),
        hostile.hostile_value.map(lambda v: b"Bearer " + v),
    )
    login: st.SearchStrategy[Case] = st.tuples(
        st.just("GET"),
        st.sampled_from(["/v1/users", "/v1/users/1"]),
        st.tuples(st.just(b"authorization"), credentials).map(lambda h: [h]),
        st.just(b""),
    )
    requests = st.one_of(signup, login)

    def check(case: Case, tally: Tally) -> None:
        method, path, headers, content = case
        headers = [*headers, (b"content-type", b"application/json")]
        what = f"{method} {path} {headers!r} {content[:60]!r} ({len(content)} bytes)"
        try:
            reply = exchange(user.port, method, path, headers, content)
        except NoAnswer as exc:
            raise tally.no_reply(exc, what) from None
        valid = all(hostile.is_valid_field_value(v) for _, v in headers)
        tally.answered(reply, what, valid_http=valid)
        if httpx.get(user.url + "/readyz", timeout=10).status_code != 200:
            raise Violation(f"{what}: the user service is not ready afterwards")

    run_property("user_hostile_requests", requests, check, ci=25)
