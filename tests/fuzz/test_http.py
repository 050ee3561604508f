"""hypothesis against the two CloudEvents receivers (the broker ingress and the audit
sink, events and dead letters) and the live tail's parameters, over real HTTP:
arbitrary methods, paths, header lists and bodies, from random bytes to nearly valid
CloudEvents in every content mode. Every request must be answered, within a timeout,
with a 2xx or a 4xx (JSON-bodied); never a 5xx, a dropped connection or a hang."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from devstack import LocalStack
from tests.chaos import report
from tests.fuzz.conftest import SEED

EXAMPLES = int(os.environ.get("FUZZ_HTTP_EXAMPLES", "300"))
TIMEOUT = 10.0

ATTRIBUTES = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data",
    "data_base64",
    "traceparent",
    "knativeerrordest",
    "knativeerrorcode",
    "knativeerrordata",
    "knativebrokerttl",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/cloudevents+json",
    "application/cloudevents+json; charset=utf-8",
    "application/cloudevents-batch+json",
    "text/plain",
    "application/xml",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "",
]

# Header values: visible ASCII, tabs, spaces and obs-text (what HTTP/1.1 can carry).
header_value = st.binary(max_size=80).map(
    lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128).strip()
)
header_name = st.one_of(
    st.sampled_from([f"ce-{a}" for a in ATTRIBUTES]),
    st.sampled_from(["content-type", "content-encoding", "transfer-encoding", "expect", "prefer"]),
    st.from_regex(r"\Ace-[a-z0-9]{1,20}\Z"),
    st.from_regex(r"\A[A-Za-z0-9!#$%&'*+.^_`|~-]{1,30}\Z"),
)
valid_values: dict[str, st.SearchStrategy[bytes]] = {
    "ce-specversion": st.sampled_from([b"1.0", b"0.3", b"1.1", b""]),
    "ce-id": st.sampled_from([b"e1", b"x" * 300, b""]),
    "ce-source": st.sampled_from([b"/fuzz", b"http://x/y", b"::", b""]),
    "ce-type": st.sampled_from([b"fuzz.t", b"user.storeUser", b""]),
    "ce-time": st.sampled_from([b"2026-11-27T00:00:00Z", b"yesterday", b"2026-13-01T00:00:00Z"]),
    "content-type": st.sampled_from([c.encode() for c in CONTENT_TYPES]),
}


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    """Often a nearly valid binary-mode header set, then arbitrary extra headers."""
    found: list[tuple[bytes, bytes]] = []
    if draw(st.booleans()):
        for name, values in valid_values.items():
            if draw(st.integers(0, 9)) > 0:
                found.append((name.encode(), draw(values)))
    for name in draw(st.lists(header_name, max_size=8)):
        if name.lower() in ("content-length", "host", "transfer-encoding"):
            continue  # framing is the HTTP library's business, not what is fuzzed here
        found.append((name.encode(), draw(header_value)))
    return found


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
event_json = st.dictionaries(
    st.one_of(st.sampled_from(ATTRIBUTES), st.text(max_size=12)), json_value, max_size=10
)
nearly_valid_event = st.builds(
    lambda extra, drop: {
        k: v
        for k, v in {
            "specversion": "1.0",
            "id": "fuzz",
            "source": "/fuzz",
            "type": "fuzz.t",
            **extra,
        }.items()
        if k not in drop
    },
    event_json,
    st.sets(st.sampled_from(["specversion", "id", "source", "type"]), max_size=2),
)


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


body = st.one_of(
    st.binary(max_size=2000),
    nearly_valid_event.map(dumps),
    st.lists(nearly_valid_event, max_size=5).map(dumps),
    event_json.map(dumps),
    json_value.map(dumps),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
method = st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
Request = tuple[str, str, list[tuple[bytes, bytes]], bytes]


@st.composite
def requests(draw: st.DrawFn, paths: st.SearchStrategy[str]) -> Request:
    """A third arbitrary, a third a valid binary-mode event plus arbitrary headers, a
    third a valid structured or batch event plus arbitrary attributes: the valid
    space is where the receivers store and forward, so it must be reached too."""
    kind = draw(st.sampled_from(["arbitrary", "binary", "structured"]))
    path = draw(paths)
    if kind == "arbitrary":
        return draw(method), path, draw(headers()), draw(body)
    event_id = draw(
        st.text(min_size=1, max_size=20).map(str.strip).filter(lambda t: t and t.isprintable())
    )
    if kind == "binary":
        found = [
            (b"ce-specversion", b"1.0"),
            (b"ce-id", event_id.encode("utf-8", "surrogatepass")),
            (b"ce-source", b"/fuzz"),
            (b"ce-type", draw(st.sampled_from([b"fuzz.t", b"user.storeUser"]))),
            (b"content-type", b"application/json"),
        ]
        extra = draw(st.lists(st.tuples(header_name, header_value), max_size=4))
        found += [
            (n.encode(), v)
            for n, v in extra
            if n.lower() not in ("content-length", "host", "transfer-encoding")
        ]
        return "POST", path, found, draw(st.one_of(json_value.map(dumps), st.binary(max_size=200)))
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": "/fuzz",
        "type": "fuzz.t",
    }
    event.update(
        draw(st.dictionaries(st.from_regex(r"\A[a-z0-9]{1,20}\Z"), json_value, max_size=4))
    )
    if draw(st.booleans()):
        return "POST", path, [(b"content-type", b"application/cloudevents+json")], dumps(event)
    return "POST", path, [(b"content-type", b"application/cloudevents-batch+json")], dumps([event])


def check(response: httpx.Response, where: str) -> None:
    status = response.status_code
    assert status < 500, f"{where}: {status} {response.text[:300]}"
    assert 200 <= status < 300 or 400 <= status < 500, f"{where}: {status}"
    if status >= 400 and response.request.method != "HEAD":
        document = response.json()  # every error has a JSON body
        assert isinstance(document, dict), f"{where}: {response.text[:300]}"
        assert "error" in document, f"{where}: {response.text[:300]}"


def fuzz_receiver(
    url_for: st.SearchStrategy[str], client: httpx.Client, statuses: Counter[int]
) -> int:
    sent = 0

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(request=requests(url_for))
    def one(request: Request) -> None:
        nonlocal sent
        sent += 1
        method, path, headers, body = request
        # Absolute, so that a path like `//x` stays a path (not a network location).
        response = client.request(
            method, f"{client.base_url}".rstrip("/") + path, headers=headers, content=body
        )
        statuses[response.status_code] += 1
        check(response, f"{method} {path}")

    one()
    return sent


segment = st.from_regex(r"\A[A-Za-z0-9._~%-]{0,12}\Z")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_broker_ingress(fuzz_stack: LocalStack) -> None:
    ingress = f"/{fuzz_stack.namespace}/{fuzz_stack.broker_name}"
    paths = st.one_of(
        st.just(ingress),
        st.just(ingress + "/"),
        st.lists(segment, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    )
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=fuzz_stack.broker.url, timeout=TIMEOUT) as client:
        sent = fuzz_receiver(paths, client, statuses)
        assert client.get("/readyz").status_code == 200
    report.record(
        "fuzz",
        "hypothesis_broker_ingress",
        {
            "seed": SEED,
            "cases": sent,
            "server_errors": 0,
            "statuses": dict(sorted(statuses.items())),
        },
    )
    assert statuses[202] > 0, "no case was accepted: the generator misses the valid space"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_audit_sink(fuzz_stack: LocalStack) -> None:
    paths = st.sampled_from(["/", "/", "/", "/dead-letter", "/dead-letter"])
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=fuzz_stack.audit_url, timeout=TIMEOUT) as client:
        sent = fuzz_receiver(paths, client, statuses)
        assert client.get("/readyz").status_code == 200
    report.record(
        "fuzz",
        "hypothesis_audit_sink",
        {
            "seed": SEED,
            "cases": sent,
            "server_errors": 0,
            "statuses": dict(sorted(statuses.items())),
        },
    )
    assert statuses[202] > 0, "no case was accepted: the generator misses the valid space"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_audit_stream_parameters(fuzz_stack: LocalStack) -> None:
    """The live tail's query and Last-Event-ID: answered (head only) within the timeout."""
    names = st.sampled_from(
        ["type", "source", "subject", "id", "since", "until", "q", "last_event_id", "x"]
    )
    query = st.lists(st.tuples(names, st.text(max_size=30)), max_size=5)
    last_event_id = st.one_of(st.none(), header_value)
    statuses: Counter[int] = Counter()
    sent = 0
    auth = {"Authorization": f"Bearer {fuzz_stack.audit_read_token}"}
    with httpx.Client(base_url=fuzz_stack.audit_url, timeout=TIMEOUT) as client:

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES // 3,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(query=query, last=last_event_id)
        def one(query: list[tuple[str, str]], last: bytes | None) -> None:
            nonlocal sent
            sent += 1
            headers = [(k.encode(), v.encode()) for k, v in auth.items()]
            if last is not None:
                headers.append((b"last-event-id", last))
            params = httpx.QueryParams(tuple(query))
            with client.stream("GET", "/v1/events/stream", params=params, headers=headers) as r:
                statuses[r.status_code] += 1
                assert r.status_code in (200, 400), (query, last, r.status_code)
                if r.status_code == 400:
                    r.read()
                    assert "error" in r.json()

        one()
    report.record(
        "fuzz",
        "hypothesis_audit_stream",
        {
            "seed": SEED,
            "cases": sent,
            "server_errors": 0,
            "statuses": dict(sorted(statuses.items())),
        },
    )
