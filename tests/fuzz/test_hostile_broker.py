"""Hostile input at the broker ingress, over raw HTTP/1.1 to a real `python -m broker`.

For every example: the answer is below 500 (a 4xx carries a JSON error); an event
answered 202 reaches its subscriber (and, for a failing subscriber, the dead-letter
sink) within the deadline; the broker stays ready. At the end of each property the
queue depth is back to 0: nothing is stuck.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import strategies as st

from tests.fuzz import hostile
from tests.fuzz.harness import TEST_TIMEOUT, WEIGHTS, Tally, Violation, run_property
from tests.fuzz.targets import BrokerTarget, binary_event, new_id
from tests.fuzz.wire import Header, NoAnswer, Reply

#: A header section past this is refused whatever the configured cap (431).
NO_SERVER_TAKES = hostile.MIB
#: /metrics is unauthenticated: no input may grow it past this.
METRICS_CAP = 2 * hostile.MIB

WEIGHTS.update(
    broker_header_values=3,
    broker_oversized_headers=0.3,
    broker_ttl=1,
    broker_cesql_casts=1.5,
    broker_event_data=2,
    broker_percent_encoding=1,
    broker_slow_peer=0.1,
    broker_burst=0.2,
    broker_concurrent_events=0.5,
)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerTarget]:
    with BrokerTarget(tmp_path) as target:
        yield target


def deliver(
    broker: BrokerTarget, tally: Tally, headers: list[Header], body: bytes, what: str
) -> Reply:
    """Send one event; check the answer, and that an accepted event arrives."""
    event_id = dict(headers).get(b"ce-id", b"").decode("latin-1")
    event_type = dict(headers).get(b"ce-type", b"").decode("latin-1")
    try:
        reply = broker.send(headers, body)
    except NoAnswer as exc:
        raise tally.no_reply(exc, what) from None
    valid = all(hostile.is_valid_field_value(value) for _, value in headers)
    tally.answered(reply, what, valid_http=valid)
    if reply.status == 202 and not broker.reached(event_id, event_type):
        tally.stuck += 1
        raise Violation(f"{what}: accepted (202) but neither delivered nor dead-lettered")
    if not broker.ready():
        raise Violation(f"{what}: the broker is not ready afterwards")
    return reply


def finish(broker: BrokerTarget, tally: Tally) -> None:
    """Nothing left in the queue once the property is done."""
    depth = broker.drained()
    tally.stuck = max(tally.stuck, int(depth))
    assert depth == 0, f"broker_queue_depth is {depth} after the run: events are stuck"


event_type = st.sampled_from(["fuzz.ok", "fuzz.fail"])
passthrough_name = st.sampled_from(
    [b"knative-fuzz", b"traceparent", b"tracestate", b"x-request-id", b"x-b3-traceid"]
)
extension_name = st.sampled_from([b"ce-fuzzext", b"ce-subject", b"ce-fuzznum"])


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_broker_header_values(broker: BrokerTarget) -> None:
    """Non-ASCII, latin-1 and control-character values in the headers the broker
    forwards (knative-*, traceparent, x-request-id...) and in extension attributes."""
    cases = st.tuples(
        st.one_of(passthrough_name, extension_name), hostile.hostile_value, event_type
    )

    def check(case: tuple[bytes, bytes, str], tally: Tally) -> None:
        name, value, kind = case
        headers = [*binary_event(new_id(), kind), (name, value)]
        deliver(broker, tally, headers, b"{}", f"{name.decode()}: {value!r}")

    tally = run_property("broker_header_values", cases, check, ci=40, after_failure=broker.fresh)
    finish(broker, tally)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_broker_oversized_headers(broker: BrokerTarget) -> None:
    """One value of up to 4 MiB, or up to 5,000 headers: answered, capped (431 past
    1 MiB), and none of it reaches the unauthenticated /metrics."""
    names = st.sampled_from([b"ce-type", b"ce-fuzzext", b"knative-fuzz", b"x-request-id"])

    def check(big: hostile.Oversize, tally: Tally) -> None:
        event_id = new_id()
        headers = [*binary_event(event_id), *big.headers()]
        # A repeated ce-type is a different input; keep one, the big one when it is.
        if big.name == b"ce-type" and big.value_size:
            headers = [h for h in headers if h != (b"ce-type", b"fuzz.ok")]
        what = f"{big} ({big.total} header bytes)"
        reply = deliver(broker, tally, headers, b"{}", what)
        if big.total > NO_SERVER_TAKES and reply.status != 431:
            raise Violation(f"{what}: {reply.status}, not 431 Request Header Fields Too Large")
        size = broker.metrics_size()
        if size > METRICS_CAP:
            raise Violation(f"{what}: /metrics is {size} bytes")

    biggest = [
        hostile.Oversize(b"ce-type", 4 * hostile.MIB, 0, 0),
        hostile.Oversize(b"knative-fuzz", 0, 5000, 200),
    ]
    tally = run_property(
        "broker_oversized_headers",
        hostile.oversize(names),
        check,
        ci=10,
        explicit=biggest,
        after_failure=broker.fresh,
    )
    finish(broker, tally)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_broker_ttl(broker: BrokerTarget) -> None:
    """Absurd and malformed `ce-knativebrokerttl`, sent while ten valid events arrive
    at the same moment: the valid ones are all accepted, whatever the TTL does."""

    def check(ttl: bytes, tally: Tally) -> None:
        hostile_headers = [*binary_event(new_id()), (b"ce-knativebrokerttl", ttl)]
        valid = [binary_event(new_id()) for _ in range(10)]
        with ThreadPoolExecutor(11) as pool:
            futures = [pool.submit(broker.send, h, b"{}") for h in [hostile_headers, *valid]]
            replies = []
            for future in futures:
                try:
                    replies.append(future.result())
                except NoAnswer as exc:
                    raise tally.no_reply(exc, f"ttl {ttl!r}") from None
        valid_http = hostile.is_valid_field_value(ttl)
        for headers, reply in zip([hostile_headers, *valid], replies, strict=True):
            tally.answered(
                reply, f"ttl {ttl!r}", valid_http=valid_http or headers is not hostile_headers
            )
            if headers is not hostile_headers and reply.status != 202:
                raise Violation(f"a valid event next to ttl {ttl!r} got {reply.status}")
            event_id = dict(headers)[b"ce-id"].decode()
            if reply.status == 202 and not broker.reached(event_id, "fuzz.ok"):
                tally.stuck += 1
                raise Violation(f"ttl {ttl!r}: an accepted event never arrived")
        if not broker.ready():
            raise Violation(f"ttl {ttl!r}: the broker is not ready afterwards")

    tally = run_property("broker_ttl", hostile.ttl_value, check, ci=25, after_failure=broker.fresh)
    finish(broker, tally)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_broker_cesql_casts(broker: BrokerTarget) -> None:
    """Attribute values a CESQL Trigger casts (`INT(fuzznum)`): digit strings past
    int32, int64 and Python's 4,300-digit limit. An evaluation error is no match."""

    def check(value: str, tally: Tally) -> None:
        headers = [*binary_event(new_id()), (b"ce-fuzznum", value.encode())]
        deliver(broker, tally, headers, b"{}", f"ce-fuzznum: {value[:40]!r} ({len(value)} chars)")

    tally = run_property(
        "broker_cesql_casts",
        hostile.digit_string,
        check,
        ci=20,
        explicit=["8" * 5000],
        after_failure=broker.fresh,
    )
    finish(broker, tally)


@dataclass(frozen=True)
class DataCase:
    data: bytes
    structured: bool

    def request(self, event_id: str) -> tuple[list[Header], bytes]:
        if not self.structured:
            return binary_event(event_id), self.data
        envelope = (
            b'{"specversion":"1.0","id":"%s","source":"/fuzz","type":"fuzz.ok",'
            b'"datacontenttype":"application/json","data":%s}' % (event_id.encode(), self.data)
        )
        return [(b"content-type", b"application/cloudevents+json")], envelope

    def __repr__(self) -> str:
        return (
            f"DataCase({self.data[:60]!r}... {len(self.data)} bytes, structured={self.structured})"
        )


json_data = st.one_of(
    hostile.deep_json.map(lambda d: d.encode()),
    hostile.huge_json.map(lambda h: h.encode()),
    hostile.json_with_number(),
    hostile.big_json_string,
)
data_case = st.builds(DataCase, json_data, st.booleans())


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_broker_event_data(broker: BrokerTarget) -> None:
    """Deep, huge and extreme-number JSON, and bodies up to 4 MiB, as event data,
    binary and structured."""

    def check(case: DataCase, tally: Tally) -> None:
        event_id = new_id()
        headers, body = case.request(event_id)
        if case.structured:
            try:
                reply = broker.send(headers, body)
            except NoAnswer as exc:
                raise tally.no_reply(exc, repr(case)) from None
            tally.answered(reply, repr(case))
            if reply.status == 202 and not broker.reached(event_id, "fuzz.ok"):
                tally.stuck += 1
                raise Violation(f"{case!r}: accepted (202) but never delivered")
        else:
            deliver(broker, tally, headers, body, repr(case))

    tally = run_property("broker_event_data", data_case, check, ci=25, after_failure=broker.fresh)
    finish(broker, tally)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_broker_percent_encoding(broker: BrokerTarget) -> None:
    """`%`, `%zz`, truncated and valid UTF-8 escapes in extension values (the JS SDK
    sends them unencoded)."""

    def check(value: str, tally: Tally) -> None:
        headers = [*binary_event(new_id()), (b"ce-fuzzext", value.encode())]
        reply = deliver(broker, tally, headers, b"{}", f"ce-fuzzext: {value!r}")
        if hostile.lenient_percent_decodes(value) and reply.status != 202:
            raise Violation(
                f"ce-fuzzext: {value!r}: {reply.status}; a `%` the spec leaves open is kept "
                "as literal text"
            )

    tally = run_property(
        "broker_percent_encoding", hostile.percent_value, check, ci=25, after_failure=broker.fresh
    )
    finish(broker, tally)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_broker_slow_peer(broker: BrokerTarget) -> None:
    """A client that sends the request head a few bytes at a time, well within the
    10 s head deadline, is served like any other."""
    pace = st.tuples(st.sampled_from([1, 3, 16, 64]), st.sampled_from([0.0, 0.001, 0.005]))

    def check(case: tuple[int, float], tally: Tally) -> None:
        chunk, pause = case
        event_id = new_id()
        what = f"head {chunk} bytes at a time, {pause} s apart"
        try:
            reply = broker.send(binary_event(event_id), b"{}", head_chunk=chunk, head_pause=pause)
        except NoAnswer as exc:
            raise tally.no_reply(exc, what) from None
        tally.answered(reply, what)
        if reply.status != 202:
            raise Violation(f"{what}: {reply.status}")
        if not broker.reached(event_id, "fuzz.ok"):
            tally.stuck += 1
            raise Violation(f"{what}: accepted, never delivered")

    tally = run_property("broker_slow_peer", pace, check, ci=6, after_failure=broker.fresh)
    finish(broker, tally)


@pytest.fixture
def narrow_broker(tmp_path: Path) -> Iterator[BrokerTarget]:
    # Two deliveries in flight per Trigger: a round bigger than that must queue up and
    # still go out once the first ones finish, with no new traffic to wake the lane.
    with BrokerTarget(tmp_path, {"BROKER_DELIVERY_CONCURRENCY": "2"}) as target:
        yield target


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_broker_concurrent_events_arrive(narrow_broker: BrokerTarget) -> None:
    """Rounds of 2-32 valid events sent at the same moment, with no traffic after them,
    to a broker that delivers 2 at a time per Trigger: each accepted one arrives by
    itself (no later event is needed to wake its lane)."""
    broker = narrow_broker

    def check(size: int, tally: Tally) -> None:
        requests = [binary_event(new_id()) for _ in range(size)]
        with ThreadPoolExecutor(size) as pool:
            futures = [pool.submit(broker.send, h, b"{}") for h in requests]
            try:
                replies = [future.result() for future in futures]
            except NoAnswer as exc:
                raise tally.no_reply(exc, f"{size} at once") from None
        for reply in replies:
            tally.answered(reply, f"{size} at once")
            if reply.status != 202:
                raise Violation(f"a valid event among {size} at once got {reply.status}")
        missing = [h for h in requests if not broker.reached(dict(h)[b"ce-id"].decode(), "fuzz.ok")]
        if missing:
            tally.stuck += len(missing)
            raise Violation(f"{len(missing)} of {size} accepted at once never arrived")

    tally = run_property(
        "broker_concurrent_events",
        st.integers(2, 32),
        check,
        ci=40,
        explicit=[11] * 5,
        after_failure=broker.fresh,
    )
    finish(broker, tally)


burst_member = st.one_of(
    st.just(None),  # a valid event
    st.tuples(passthrough_name, hostile.carriable_value),
    st.tuples(st.just(b"ce-knativebrokerttl"), st.sampled_from(hostile.TTLS).map(str.encode)),
    st.tuples(st.just(b"ce-fuzznum"), hostile.digit_string.map(str.encode)),
)


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT)
def test_broker_burst(broker: BrokerTarget) -> None:
    """Up to 200 requests at once, valid and hostile mixed: every valid one is
    accepted, every accepted one arrives, the queue drains."""
    bursts = st.lists(burst_member, min_size=10, max_size=200)

    def check(members: list[tuple[bytes, bytes] | None], tally: Tally) -> None:
        requests = []
        for member in members:
            headers = binary_event(new_id(), "fuzz.ok")
            if member is not None:
                headers.append(member)
            requests.append(headers)
        with ThreadPoolExecutor(min(len(requests), 64)) as pool:
            futures = [pool.submit(broker.send, h, b"{}") for h in requests]
            replies: list[Reply] = []
            for future in futures:
                try:
                    replies.append(future.result())
                except NoAnswer as exc:
                    raise tally.no_reply(exc, f"burst of {len(members)}") from None
        for member, headers, reply in zip(members, requests, replies, strict=True):
            tally.answered(reply, f"burst member {member!r}")
            if member is None and reply.status != 202:
                raise Violation(f"a valid event in a burst of {len(members)} got {reply.status}")
            event_id = dict(headers)[b"ce-id"].decode()
            if reply.status == 202 and not broker.reached(event_id, "fuzz.ok"):
                tally.stuck += 1
                raise Violation(f"burst member {member!r}: accepted, never delivered")
        if not broker.ready():
            raise Violation(f"burst of {len(members)}: the broker is not ready afterwards")

    tally = run_property("broker_burst", bursts, check, ci=4, after_failure=broker.fresh)
    finish(broker, tally)
