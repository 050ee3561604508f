"""Replays the upstream CloudEvents conformance data through parse_http.

Data: ../shared/reference/cloudevents-conformance (SHARED_DIR overrides the
parent), read in place and never copied into the project. Its README
describes the shapes:

* format/json/{valid,invalid}-{events,batches}.json: JSON-format cases. Valid
  ones must equal their golden sample (coded below from format/README.md);
  invalid ones must get a 400. Each single-event case is also replayed in
  binary mode, except those that only a typed format can express.
* yaml/v1.yaml, yaml/v1.0/*.yaml: events rendered as the upstream `invoke`
  tool does (header values trimmed, not percent-encoded) and, in binary mode,
  also percent-encoded as a conforming sender would; all must be accepted.
* yaml/v03.yaml, yaml/v0.3/*.yaml: CloudEvents 0.3, which a 1.0 receiver
  rejects (items 79, 80).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from common.events import (
    CloudEvent,
    CloudEventError,
    ContentMode,
    ParsedMessage,
    parse_http,
    parse_time,
)
from tests.conftest import SHARED

CONFORMANCE = Path("reference") / "cloudevents-conformance"
STRUCTURED = b"application/cloudevents+json"
BATCH = b"application/cloudevents-batch+json"

# Golden samples (format/README.md; the README there says id "simpleData", the
# test file and ../shared's README say "simpleTextData").
_BASE = {"specversion": "1.0", "type": "io.cloudevents.test", "source": "https://cloudevents.io"}
GOLDEN: dict[str, tuple[dict[str, Any], bytes | None]] = {
    "minimal": ({**_BASE, "id": "minimal"}, None),
    "minimalWithTime": ({**_BASE, "id": "minimalWithTime", "time": "2018-04-05T17:31:00Z"}, None),
    "minimalWithRelativeSource": (
        {**_BASE, "id": "minimalWithRelativeSource", "source": "#fragment"},
        None,
    ),
    "allCore": (
        {
            **_BASE,
            "id": "allCore",
            "datacontenttype": "text/plain",
            "dataschema": "https://cloudevents.io/dataschema",
            "subject": "tests",
            "time": "2018-04-05T17:31:00Z",
        },
        None,
    ),
    "simpleTextData": (
        {**_BASE, "id": "simpleTextData", "datacontenttype": "text/plain"},
        b"Simple text",
    ),
    # An untyped receiver compares the JSON-native values (format/README.md).
    "allExtensionTypes": (
        {
            **_BASE,
            "id": "allExtensionTypes",
            "extinteger": 10,
            "extboolean": True,
            "extstring": "text",
            "extbinary": "TWE=",
            "exttimestamp": "2023-03-31T15:12:00Z",
            "exturi": "https://cloudevents.io",
            "exturiref": "//authority/path",
        },
        None,
    ),
}
GOLDEN_BATCHES = {
    "empty": [],
    "minimal": ["minimal"],
    "minimal2": ["minimal", "minimal"],
    "minimalAndAllCore": ["minimal", "allCore"],
    "minimalAndAllExtensionTypes": ["minimal", "allExtensionTypes"],
}
# Cases only a typed format can express: in binary mode every value is a
# string and header names are case-insensitive (README: "skip them").
NO_BINARY_EQUIVALENT = frozenset(
    {
        "invalidNumericId",
        "invalidObjectId",
        "invalidNonIntegerExtensionValue",
        "invalidBothDataAndDataBase64",
        "invalidCapitalizedExtension",
    }
)


def _root() -> Path:
    return SHARED / CONFORMANCE


def _load_json_cases(name: str, exclude: frozenset[str] = frozenset()) -> list[Any]:
    path = _root() / "format" / "json" / f"{name}.json"
    if not path.is_file():
        return [pytest.param(None, id=f"{name}-missing")]
    document = json.loads(path.read_text(encoding="utf-8-sig"))  # the files start with a BOM
    default = document["testType"]
    return [
        pytest.param({"testType": default, **test}, id=test["id"])
        for test in document["tests"]
        if test["id"] not in exclude
    ]


def _load_yaml_cases(*patterns: str) -> list[Any]:
    params: list[Any] = []
    for pattern in patterns:
        for path in sorted((_root() / "yaml").glob(pattern)):
            with path.open(encoding="utf-8") as stream:
                # BaseLoader keeps every scalar a string ("1.0", the time's own text).
                documents = [d for d in yaml.load_all(stream, Loader=yaml.BaseLoader) if d]
            for index, document in enumerate(documents):
                params.append(pytest.param(document, id=f"{path.name}#{index}"))
    return params or [pytest.param(None, id="yaml-missing")]


def _require(shared_dir: Path, case: object) -> None:
    """Skip through the shared_dir fixture (a failure in CI) when data is missing."""
    assert shared_dir.is_dir()
    if case is None:
        pytest.fail(f"{_root()} lacks this conformance file")


# --- comparing with golden samples ----------------------------------------------------


def _instant(text: str) -> datetime:
    moment = parse_time(text)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # to the millisecond


def _canonical(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def assert_golden(event: CloudEvent, sample_id: str, *, binary: bool) -> None:
    expected, data = GOLDEN[sample_id]
    got = dict(event.attributes)
    want = {k: _canonical(v) if binary else v for k, v in expected.items()}
    if "time" in want:
        assert _instant(str(got.pop("time"))) == _instant(str(want.pop("time")))
    assert got == want
    assert event.data == data


# --- format/json: single events -------------------------------------------------------------


def _binary_request(member: dict[str, Any]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The README's binary-mode derivation: canonical strings in percent-encoded
    `ce-` headers, datacontenttype in Content-Type, data in the body."""
    safe = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
    headers: list[tuple[bytes, bytes]] = []
    body = b""
    for name, value in member.items():
        if value is None:
            continue
        if name == "data":
            body = value.encode("utf-8") if isinstance(value, str) else json.dumps(value).encode()
        elif name == "datacontenttype":
            headers.append((b"content-type", str(value).encode("utf-8")))
        else:
            encoded = quote(_canonical(value), safe=safe).encode("ascii")
            headers.append((f"ce-{name}".encode(), encoded))
    return headers, body


@pytest.mark.parametrize("case", _load_json_cases("valid-events"))
def test_item_02_valid_json_events_match_their_golden_sample(
    shared_dir: Path, case: dict[str, Any] | None
) -> None:
    _require(shared_dir, case)
    assert case is not None
    message = parse_http([(b"content-type", STRUCTURED)], json.dumps(case["event"]).encode())
    assert message.mode == ContentMode.STRUCTURED
    (event,) = message.events
    assert_golden(event, case["sampleId"], binary=False)


@pytest.mark.parametrize("case", _load_json_cases("valid-events"))
def test_item_39_valid_json_events_replayed_in_binary_mode(
    shared_dir: Path, case: dict[str, Any] | None
) -> None:
    _require(shared_dir, case)
    assert case is not None
    headers, body = _binary_request(case["event"])
    message = parse_http(headers, body)
    assert message.mode == ContentMode.BINARY
    (event,) = message.events
    assert_golden(event, case["sampleId"], binary=True)


def _expect_400(headers: list[tuple[bytes, bytes]], body: bytes) -> CloudEventError:
    with pytest.raises(CloudEventError) as caught:
        parse_http(headers, body)
    assert caught.value.status == 400, caught.value.detail
    json.dumps(caught.value.to_json(), ensure_ascii=False).encode("utf-8")
    return caught.value


@pytest.mark.parametrize("case", _load_json_cases("invalid-events"))
def test_item_92_invalid_json_events_are_400(shared_dir: Path, case: dict[str, Any] | None) -> None:
    _require(shared_dir, case)
    assert case is not None
    _expect_400([(b"content-type", STRUCTURED)], json.dumps(case["event"]).encode())


@pytest.mark.parametrize("case", _load_json_cases("invalid-events", NO_BINARY_EQUIVALENT))
def test_item_38_invalid_json_events_replayed_in_binary_mode_are_400(
    shared_dir: Path, case: dict[str, Any] | None
) -> None:
    _require(shared_dir, case)
    assert case is not None
    _expect_400(*_binary_request(case["event"]))


# --- format/json: batches -----------------------------------------------------------------


@pytest.mark.parametrize("case", _load_json_cases("valid-batches"))
def test_item_74_valid_batches_match_their_golden_samples(
    shared_dir: Path, case: dict[str, Any] | None
) -> None:
    _require(shared_dir, case)
    assert case is not None
    message = parse_http([(b"content-type", BATCH)], json.dumps(case["batch"]).encode())
    assert message.mode == ContentMode.BATCH
    samples = GOLDEN_BATCHES[case["sampleId"]]
    assert len(message.events) == len(samples)
    for event, sample_id in zip(message.events, samples, strict=True):
        assert_golden(event, sample_id, binary=False)


@pytest.mark.parametrize("case", _load_json_cases("invalid-batches"))
def test_item_78_invalid_batches_are_400(shared_dir: Path, case: dict[str, Any] | None) -> None:
    _require(shared_dir, case)
    assert case is not None
    _expect_400([(b"content-type", BATCH)], json.dumps(case["batch"]).encode())


# --- yaml: events as the upstream invoke tool sends them ---------------------------------------


def _attributes(document: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    context = dict(document.get("ContextAttributes") or {})
    extensions = {k.strip(): v for k, v in (context.pop("Extensions", None) or {}).items()}
    return context, extensions


def _render(document: dict[str, Any], *, percent_encode: bool) -> tuple[ParsedMessage, bytes]:
    """The upstream tool's request (README §1), parsed by ours."""
    context, extensions = _attributes(document)
    transport = [
        (k.encode(), v.strip().encode())
        for k, v in (document.get("TransportExtensions") or {}).items()
    ]
    data = document.get("Data", "")
    safe = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
    if document.get("Mode", "") == "structured":
        member = {k: v.strip() for k, v in {**context, **extensions}.items() if v.strip()}
        member["data"] = json.loads(data)
        headers = [(b"content-type", b"application/cloudevents+json; charset=UTF-8"), *transport]
        return parse_http(headers, json.dumps(member).encode("utf-8")), data.encode("utf-8")
    headers = []
    for name, value in {**context, **extensions}.items():
        text = value.strip()
        if not text:
            continue
        if name == "datacontenttype":
            headers.append((b"Content-Type", text.encode("utf-8")))
        else:
            encoded = quote(text, safe=safe) if percent_encode else text
            headers.append((f"ce-{name}".encode(), encoded.encode("utf-8")))
    return parse_http([*headers, *transport], data.encode("utf-8")), data.encode("utf-8")


@pytest.mark.parametrize("percent_encode", [False, True], ids=["as-upstream", "percent-encoded"])
@pytest.mark.parametrize("document", _load_yaml_cases("v1.yaml", "v1.0/*.yaml"))
def test_item_39_upstream_v1_yaml_events_are_accepted(
    shared_dir: Path, document: dict[str, Any] | None, percent_encode: bool
) -> None:
    _require(shared_dir, document)
    assert document is not None
    message, data = _render(document, percent_encode=percent_encode)
    (event,) = message.events
    context, extensions = _attributes(document)
    structured = document.get("Mode", "") == "structured"
    assert message.mode == (ContentMode.STRUCTURED if structured else ContentMode.BINARY)
    got = dict(event.attributes)
    for name in ("specversion", "id", "source", "type", "subject", "dataschema"):
        if name in context:
            assert got.pop(name) == context[name].strip()
    if "time" in context:
        assert parse_time(str(got.pop("time"))) == parse_time(context["time"].strip())
    for name, value in extensions.items():
        assert got.pop(name) == value.strip()  # strings in both modes
    content_type = got.pop("datacontenttype", None)
    if structured:
        # Item 18/19: JSON data without a type is application/json, explicitly.
        assert content_type == context.get("datacontenttype", "application/json")
        assert json.loads(event.data or b"") == json.loads(data)
    else:
        assert content_type == context.get("datacontenttype")
        assert event.data == data  # byte-exact, trailing newline included
    assert got == {}  # nothing else; TransportExtensions are not attributes (item 28)


def test_item_09_untrimmed_block_scalar_in_structured_mode_is_a_control_character(
    shared_dir: Path,
) -> None:
    """Sent without trimming, v1.yaml's `comexampleextension2: |` keeps its
    trailing newline, a control character that a String may not hold."""
    documents = [p.values[0] for p in _load_yaml_cases("v1.yaml")]
    document = next((d for d in documents if d and d.get("Mode") == "structured"), None)
    _require(shared_dir, document)
    assert document is not None
    context, extensions = _attributes(document)
    member = {**{k: v.strip() for k, v in context.items()}, **extensions}
    assert member["comexampleextension2"].endswith("\n")
    _expect_400([(b"content-type", STRUCTURED)], json.dumps(member).encode())


@pytest.mark.parametrize("document", _load_yaml_cases("v03.yaml", "v0.3/*.yaml"))
def test_item_80_upstream_v03_yaml_events_are_rejected(
    shared_dir: Path, document: dict[str, Any] | None
) -> None:
    _require(shared_dir, document)
    assert document is not None
    with pytest.raises(CloudEventError) as caught:
        _render(document, percent_encode=True)
    assert caught.value.status == 400
    assert caught.value.attribute == "specversion"
