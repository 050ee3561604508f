"""Hostile input at audit's sink, over raw HTTP/1.1 to a real `python -m audit`.

For every example: the answer is below 500 (a 4xx carries a JSON error), and after
any accepted event every read still works: the list, the event by key, the export
(200 with one line per accepted event and a clean end) and the live tail replaying
it. On PostgreSQL, an extreme number in one event never costs the others their 202.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import strategies as st

from tests.conftest import new_postgres_database
from tests.fuzz import hostile
from tests.fuzz.harness import TEST_TIMEOUT, WEIGHTS, Tally, Violation, run_property
from tests.fuzz.targets import AuditTarget
from tests.fuzz.wire import Header, NoAnswer, Reply, exchange
from tests.support.postgres import PostgresServer

WEIGHTS.update(
    audit_event_data=3,
    audit_deep_json=1,
    audit_header_values=2,
    audit_percent_encoding=1,
    audit_oversized_headers=0.3,
    audit_numbers_postgres=0.3,
)


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditTarget]:
    with AuditTarget(tmp_path) as target:
        yield target


def finish(audit: AuditTarget) -> None:
    """Every accepted event is in the export and in a live tail from the start."""
    problems = audit.final_problems()
    assert not problems, "; ".join(problems)


def new_source() -> str:
    return f"/fuzz/{uuid.uuid4().hex}"


def binary(source: str, event_id: str, content_type: bytes = b"application/json") -> list[Header]:
    return [
        (b"ce-specversion", b"1.0"),
        (b"ce-id", event_id.encode()),
        (b"ce-source", source.encode()),
        (b"ce-type", b"fuzz.t"),
        (b"content-type", content_type),
    ]


def store(
    audit: AuditTarget,
    tally: Tally,
    headers: list[Header],
    body: bytes,
    key: tuple[str, str],
    what: str,
    path: str = "/",
) -> Reply:
    """POST to the sink; after a 202 every read path must still work."""
    try:
        reply = exchange(audit.port, "POST", path, headers, body)
    except NoAnswer as exc:
        raise tally.no_reply(exc, what) from None
    valid = all(hostile.is_valid_field_value(value) for _, value in headers)
    tally.answered(reply, what, valid_http=valid)
    if reply.status == 202:
        audit.accepted += 1
        problems = audit.read_problems(*key)
        if problems:
            raise Violation(f"{what}: accepted, then " + "; ".join(problems))
    if not audit.ready():
        raise Violation(f"{what}: audit is not ready afterwards")
    return reply


@dataclass(frozen=True)
class DataCase:
    data: bytes
    mode: str  # binary, structured, batch

    def request(self, source: str, event_id: str) -> tuple[list[Header], bytes]:
        if self.mode == "binary":
            return binary(source, event_id), self.data
        envelope = (
            b'{"specversion":"1.0","id":"%s","source":"%s","type":"fuzz.t",'
            % (
                event_id.encode(),
                source.encode(),
            )
            + b'"datacontenttype":"application/json","data":%s}' % self.data
        )
        if self.mode == "structured":
            return [(b"content-type", b"application/cloudevents+json")], envelope
        return [(b"content-type", b"application/cloudevents-batch+json")], b"[" + envelope + b"]"

    def __repr__(self) -> str:
        return f"DataCase({self.data[:60]!r}... {len(self.data)} bytes, {self.mode})"


json_data = st.one_of(
    hostile.deep_json.map(lambda d: d.encode()),
    hostile.huge_json.map(lambda h: h.encode()),
    hostile.json_with_number(),
    hostile.big_json_string,
)
data_case = st.builds(DataCase, json_data, st.sampled_from(["binary", "structured", "batch"]))


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_audit_event_data(audit: AuditTarget) -> None:
    """Deep (to 3,000, with and without newlines), huge and extreme-number JSON, and
    bodies up to 4 MiB, as data in binary, structured and batch mode."""

    def check(case: DataCase, tally: Tally) -> None:
        source, event_id = new_source(), uuid.uuid4().hex
        headers, body = case.request(source, event_id)
        store(audit, tally, headers, body, (source, event_id), repr(case))

    corners = [
        DataCase(hostile.DeepJson(1000, False, "\n").encode(), "binary"),
        DataCase(b'{"n":1e-20000}', "structured"),
    ]
    run_property(
        "audit_event_data", data_case, check, ci=40, explicit=corners, after_failure=audit.fresh
    )
    finish(audit)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_audit_deep_json(audit: AuditTarget) -> None:
    """JSON nested around the parsers' limits (orjson 1024, Python's json about 1000),
    compact or with spaces, tabs and newlines between the brackets."""

    def check(deep: hostile.DeepJson, tally: Tally) -> None:
        source, event_id = new_source(), uuid.uuid4().hex
        headers = binary(source, event_id)
        store(audit, tally, headers, deep.encode(), (source, event_id), repr(deep))

    run_property("audit_deep_json", hostile.deep_json, check, ci=20, after_failure=audit.fresh)
    finish(audit)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_audit_header_values(audit: AuditTarget) -> None:
    """Non-ASCII, latin-1 and control-character values in attribute headers."""
    names = st.sampled_from([b"ce-subject", b"ce-fuzzext", b"ce-dataschema", b"traceparent"])

    def check(case: tuple[bytes, bytes], tally: Tally) -> None:
        name, value = case
        source, event_id = new_source(), uuid.uuid4().hex
        headers = [*binary(source, event_id), (name, value)]
        store(audit, tally, headers, b"{}", (source, event_id), f"{name.decode()}: {value!r}")

    run_property(
        "audit_header_values",
        st.tuples(names, hostile.hostile_value),
        check,
        ci=25,
        after_failure=audit.fresh,
    )
    finish(audit)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_audit_percent_encoding(audit: AuditTarget) -> None:
    """Extension values as the JavaScript SDK sends them (not percent-encoded): a `%`
    the spec leaves open is kept as literal text (202, stored as sent); what the spec
    defines (`%41`, `%C3%A9`) stays strict."""

    def check(value: str, tally: Tally) -> None:
        source, event_id = new_source(), uuid.uuid4().hex
        headers = [*binary(source, event_id), (b"ce-fuzzext", value.encode())]
        what = f"ce-fuzzext: {value!r}"
        reply = store(audit, tally, headers, b"{}", (source, event_id), what)
        if hostile.lenient_percent_decodes(value) and reply.status != 202:
            raise Violation(f"{what}: {reply.status}; a `%` the spec leaves open is kept")

    run_property(
        "audit_percent_encoding",
        hostile.percent_value,
        check,
        ci=25,
        explicit=["a b%c"],
        after_failure=audit.fresh,
    )
    finish(audit)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_audit_oversized_headers(audit: AuditTarget) -> None:
    """One value of up to 4 MiB, or up to 5,000 headers: answered, and past 1 MiB of
    header section refused with 431 (never stored, never a 5xx)."""
    names = st.sampled_from([b"ce-type", b"ce-subject", b"ce-fuzzext", b"x-request-id"])

    def check(big: hostile.Oversize, tally: Tally) -> None:
        source, event_id = new_source(), uuid.uuid4().hex
        headers = [*binary(source, event_id), *big.headers()]
        if big.name == b"ce-type" and big.value_size:
            headers = [h for h in headers if h != (b"ce-type", b"fuzz.t")]
        what = f"{big} ({big.total} header bytes)"
        reply = store(audit, tally, headers, b"{}", (source, event_id), what)
        if big.total > hostile.MIB and reply.status != 431:
            raise Violation(f"{what}: {reply.status}, not 431 Request Header Fields Too Large")

    biggest = [hostile.Oversize(b"ce-type", 4 * hostile.MIB, 0, 0)]
    run_property(
        "audit_oversized_headers",
        hostile.oversize(names),
        check,
        ci=8,
        explicit=biggest,
        after_failure=audit.fresh,
    )
    finish(audit)


@pytest.fixture
def audit_postgres(tmp_path: Path, postgres_server: PostgresServer | None) -> Iterator[AuditTarget]:
    with AuditTarget(tmp_path, lambda: new_postgres_database(postgres_server)) as target:
        yield target


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(TEST_TIMEOUT)
def test_audit_numbers_postgres(audit_postgres: AuditTarget) -> None:
    """PostgreSQL's jsonb refuses numbers orjson reads (1e-20000): two such events
    among 30 concurrent ones must not cost the good ones their 202."""
    audit = audit_postgres
    cases = st.lists(hostile.extreme_number, min_size=1, max_size=3)

    def check(numbers: list[str], tally: Tally) -> None:
        good = [(new_source(), uuid.uuid4().hex) for _ in range(30)]
        bad = [(new_source(), uuid.uuid4().hex) for _ in numbers]
        requests = [(binary(s, i), b'{"n":1}') for s, i in good]
        requests += [
            (binary(s, i), b'{"n":%s}' % n.encode()) for (s, i), n in zip(bad, numbers, strict=True)
        ]
        with ThreadPoolExecutor(len(requests)) as pool:
            futures = [pool.submit(exchange, audit.port, "POST", "/", h, b) for h, b in requests]
            try:
                replies = [f.result() for f in futures]
            except NoAnswer as exc:
                raise tally.no_reply(exc, f"numbers {numbers}") from None
        audit.accepted += sum(1 for r in replies if r.status == 202)
        for index, reply in enumerate(replies):
            tally.answered(reply, f"numbers {[n[:30] for n in numbers]}")
            if index < len(good) and reply.status != 202:
                raise Violation(
                    f"a good event next to {[n[:30] for n in numbers]} got {reply.status}"
                )
        for (source, event_id), reply in zip(good + bad, replies, strict=True):
            if reply.status == 202:
                problems = audit.read_problems(source, event_id)
                if problems:
                    raise Violation(f"numbers {numbers}: " + "; ".join(problems))
                break  # one full read check per example keeps the cost down

    run_property(
        "audit_numbers_postgres",
        cases,
        check,
        ci=8,
        explicit=[["1e-20000", "1e-20000"]],
        after_failure=audit.fresh,
    )
    finish(audit)
