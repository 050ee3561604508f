"""Parse speed of our CloudEvents codec against the official SDK, in one run.

    .venv/bin/python -m bench.codec_speed [--runs 9] [--number 2000] [--json]

The same HTTP message is parsed by `common.events.parse_http` (raw ASGI header
pairs, as a Starlette/uvicorn app receives them) and by the SDK's
`cloudevents.core.bindings.http.from_http_event` (its `HTTPMessage`, a
dict of str headers). Each run times both back to back, alternating which goes
first; the result is the median of the per-run times and of the per-run
ratios, so machine load that drifts during the run affects both sides alike.

Messages: a typical binary-mode event (8 `ce-` headers, Content-Type, the
usual request headers, 60 bytes of JSON data), the same event in structured
mode, and a 100-event JSON batch. The SDK has no batch mode, so its baseline
parses the same 100 events as 100 structured messages.

ratio = SDK time / our time; above 1.0 means ours is faster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http_event

from common.events import (
    CloudEvent,
    ParsedMessage,
    encode_batch,
    encode_binary,
    encode_structured,
    new_event,
    parse_http,
)

RawHeaders = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Case:
    name: str
    ours: Callable[[], ParsedMessage]
    sdk: Callable[[], BaseCloudEvent | list[BaseCloudEvent]]


@dataclass(frozen=True)
class Result:
    name: str
    ours_us: float
    sdk_us: float
    ratio: float
    runs: int
    number: int


def _event(index: int = 0) -> CloudEvent:
    user_id = f"8c8e4f1a-4a4e-4b4f-9f7e-2b9f3e1d{index:04d}"
    return new_event(
        type="user.storeUser",
        source="https://user.example.com/v1/user",
        id=f"0d5b7b5e-1c2f-4f0a-9a57-6f3c2b1a{index:04d}",
        time="2026-11-27T15:25:36.177240Z",
        data=json.dumps({"id": user_id, "name": "Ada Lovelace"}).encode(),
        subject=user_id,
        dataschema="https://user.example.com/v1/schemas/user.storeUser.json",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        requestid="req-7f3a9c",
    )


_TRANSPORT: RawHeaders = [
    (b"host", b"audit.default.svc.cluster.local"),
    (b"user-agent", b"python-httpx/0.28.1"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"),
]


def binary_message() -> tuple[RawHeaders, bytes]:
    """A realistic binary-mode request, as raw ASGI header pairs."""
    headers, body = encode_binary(_event())
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    return [*_TRANSPORT[:2], *raw, *_TRANSPORT[2:]], body


def _sdk_message(raw: RawHeaders, body: bytes) -> HTTPMessage:
    return HTTPMessage({k.decode("latin-1"): v.decode("latin-1") for k, v in raw}, body)


def cases() -> list[Case]:
    binary_raw, binary_body = binary_message()
    binary_sdk = _sdk_message(binary_raw, binary_body)

    structured_headers, structured_body = encode_structured(_event())
    structured_raw = [*_TRANSPORT, *((k.encode(), v.encode()) for k, v in structured_headers)]
    structured_sdk = _sdk_message(structured_raw, structured_body)

    events = [_event(i) for i in range(100)]
    batch_headers, batch_body = encode_batch(events)
    batch_raw = [*_TRANSPORT, *((k.encode(), v.encode()) for k, v in batch_headers)]
    singles = [_sdk_message(structured_raw, encode_structured(e)[1]) for e in events]

    def sdk_batch() -> list[BaseCloudEvent]:
        return [from_http_event(message) for message in singles]

    return [
        Case(
            "binary",
            lambda: parse_http(binary_raw, binary_body),
            lambda: from_http_event(binary_sdk),
        ),
        Case(
            "structured",
            lambda: parse_http(structured_raw, structured_body),
            lambda: from_http_event(structured_sdk),
        ),
        Case("batch of 100", lambda: parse_http(batch_raw, batch_body), sdk_batch),
    ]


def check_same_events() -> None:
    """Both parsers must accept each message and agree on the ids (a benchmark
    of a parser that fails fast would be meaningless)."""
    for case in cases():
        ours, sdk = case.ours(), case.sdk()
        our_ids = [e.id for e in ours.events]
        sdk_ids = [e.get_id() for e in (sdk if isinstance(sdk, list) else [sdk])]
        if our_ids != sdk_ids:
            raise AssertionError(f"{case.name}: ours {our_ids[:2]} != SDK {sdk_ids[:2]}")


def _time(function: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        function()
    return (time.perf_counter() - start) / number


def measure(case: Case, *, runs: int, number: int) -> Result:
    """Median per-call times and median per-run ratio over `runs` alternating runs."""
    case.ours()
    case.sdk()  # warm caches and imports
    ours_times: list[float] = []
    sdk_times: list[float] = []
    ratios: list[float] = []
    for run in range(runs):
        if run % 2 == 0:
            ours, sdk = _time(case.ours, number), _time(case.sdk, number)
        else:
            sdk, ours = _time(case.sdk, number), _time(case.ours, number)
        ours_times.append(ours)
        sdk_times.append(sdk)
        ratios.append(sdk / ours)
    return Result(
        name=case.name,
        ours_us=statistics.median(ours_times) * 1e6,
        sdk_us=statistics.median(sdk_times) * 1e6,
        ratio=statistics.median(ratios),
        runs=runs,
        number=number,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="alternating runs per case")
    parser.add_argument("--number", type=int, default=2000, help="calls per run (batch: /50)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    check_same_events()
    results = [
        measure(
            case, runs=args.runs, number=max(args.number // (50 if "batch" in case.name else 1), 10)
        )
        for case in cases()
    ]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    print(f"{'message':<14} {'ours µs':>10} {'SDK µs':>10} {'SDK/ours':>9}", end="")
    print(f"   (median of {args.runs} alternating runs)")
    for r in results:
        line = f"{r.name:<14} {r.ours_us:>10.1f} {r.sdk_us:>10.1f} {r.ratio:>8.2f}x"
        print(f"{line}   ({r.number} calls/run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
