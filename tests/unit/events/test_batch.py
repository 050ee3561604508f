"""Checklist M (items 72-78): batched content mode."""

from __future__ import annotations

import json

import pytest

from common.events import (
    CloudEvent,
    CloudEventError,
    ContentMode,
    encode_batch,
    encode_binary,
    parse_http,
)
from tests.unit.events.support import (
    BATCH,
    REQUIRED,
    as_str_headers,
    batch_events,
    event_json,
    rejected,
    structured_event,
)


def test_item_72_the_receiver_chooses_the_maximum_batch_size() -> None:
    body = json.dumps([REQUIRED] * 5).encode()
    assert len(parse_http([(b"content-type", BATCH)], body, max_batch=5).events) == 5
    with rejected(413):
        parse_http([(b"content-type", BATCH)], body, max_batch=4)


def test_item_72_single_events_are_never_sent_batched_by_default() -> None:
    headers, _ = encode_binary(CloudEvent(REQUIRED))
    assert all("batch" not in value for _, value in headers)


def test_item_73_batch_content_type() -> None:
    headers, _ = encode_batch([CloudEvent(REQUIRED)])
    (content_type,) = [value for name, value in headers if name == "content-type"]
    assert content_type.split(";")[0] == "application/cloudevents-batch+json"


def test_item_74_a_batch_is_a_json_array_of_events() -> None:
    events = [
        CloudEvent({**REQUIRED, "id": "1"}),
        CloudEvent({**REQUIRED, "id": "2", "datacontenttype": "text/plain"}, b"two"),
    ]
    headers, body = encode_batch(events)
    assert isinstance(json.loads(body), list)
    message = parse_http(as_str_headers(headers), body)
    assert message.mode == ContentMode.BATCH
    assert message.events == events


@pytest.mark.parametrize("body", [REQUIRED, "x", 1, None])
def test_item_74_a_batch_body_that_is_not_an_array_is_400(body: object) -> None:
    with rejected(400):
        batch_events(json.dumps(body).encode())


def test_item_75_an_empty_batch_is_valid() -> None:
    assert batch_events(b"[]") == []
    headers, body = encode_batch([])
    assert body == b"[]"
    assert parse_http(as_str_headers(headers), body).events == []


def test_item_76_mixed_specversions_reject_the_batch() -> None:
    with rejected(400, "specversion"):
        batch_events([REQUIRED, event_json(specversion="0.3")])


def test_item_76_other_attributes_may_differ_and_events_may_repeat() -> None:
    events = batch_events(
        [REQUIRED, REQUIRED, event_json(datacontenttype="text/plain", data="x", subject="s")]
    )
    assert events[0] == events[1]
    assert events[2].datacontenttype == "text/plain"


def test_item_77_a_batch_is_not_a_structured_event_and_vice_versa() -> None:
    with rejected(400):
        structured_event(json.dumps([REQUIRED]).encode())
    with rejected(400):
        parse_http([(b"content-type", BATCH)], json.dumps(REQUIRED).encode())


def test_item_78_one_invalid_event_rejects_the_whole_batch() -> None:
    members = [event_json(id=str(i)) for i in range(10)] + [event_json(id="")]
    with pytest.raises(CloudEventError) as caught:
        batch_events(members)
    assert caught.value.status == 400
    assert caught.value.attribute == "id"
    assert "batch event 10" in caught.value.detail


@pytest.mark.parametrize("element", [[], "event", 1, None, True])
def test_item_78_a_non_object_element_rejects_the_batch(element: object) -> None:
    with pytest.raises(CloudEventError) as caught:
        batch_events([REQUIRED, element])
    assert caught.value.status == 400
    assert "batch event 1" in caught.value.detail


def test_item_78_default_maximum_event_count() -> None:
    body = b"[" + b",".join([json.dumps(REQUIRED).encode()] * 1001) + b"]"
    with rejected(413):
        parse_http([(b"content-type", BATCH)], body)
