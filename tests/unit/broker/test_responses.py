"""The status-code policy: what is success, a reply, retriable or final."""

from __future__ import annotations

import base64

import pytest

from broker.responses import Verdict, error_data, is_retriable, judge


@pytest.mark.parametrize("status", [404, 408, 409, 429, 500, 501, 502, 503, 504, 599, 100, 600])
def test_retriable(status: int) -> None:
    assert is_retriable(status)
    assert judge(status, (), b"").verdict is Verdict.RETRY


@pytest.mark.parametrize("status", [300, 301, 302, 304, 400, 401, 403, 405, 410, 413, 415, 422])
def test_not_retriable(status: int) -> None:
    assert not is_retriable(status)
    assert judge(status, (), b"").verdict is Verdict.FAIL


def test_no_response_is_retried() -> None:
    outcome = judge(None, (), b"", "ConnectError")
    assert outcome.verdict is Verdict.RETRY
    assert outcome.status is None


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_empty_2xx_is_delivered_without_reply(status: int) -> None:
    outcome = judge(status, [(b"content-type", b"text/plain")], b"")
    assert outcome.verdict is Verdict.DELIVERED
    assert outcome.reply is None


def test_non_cloudevent_body_is_a_retried_502() -> None:
    outcome = judge(200, [(b"content-type", b"text/plain")], b"OK")
    assert outcome.verdict is Verdict.RETRY
    assert outcome.status == 502
    assert outcome.body == b"OK"


def test_binary_reply() -> None:
    headers = [
        (b"ce-specversion", b"1.0"),
        (b"ce-id", b"r1"),
        (b"ce-source", b"/s"),
        (b"ce-type", b"reply"),
        (b"content-type", b"application/json"),
    ]
    outcome = judge(200, headers, b"{}")
    assert outcome.verdict is Verdict.DELIVERED
    assert outcome.reply is not None
    assert outcome.reply.id == "r1"


def test_structured_reply() -> None:
    body = b'{"specversion": "1.0", "id": "r2", "source": "/s", "type": "reply"}'
    outcome = judge(200, [(b"content-type", b"application/cloudevents+json")], body)
    assert outcome.reply is not None
    assert outcome.reply.id == "r2"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ([(b"ce-specversion", b"1.0"), (b"ce-id", b"x")], b""),
        ([(b"content-type", b"application/cloudevents+json")], b"{"),
        ([(b"content-type", b"application/cloudevents-batch+json")], b"[]"),
    ],
)
def test_malformed_or_batch_reply_is_a_retried_502(
    headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    outcome = judge(200, headers, body)
    assert outcome.verdict is Verdict.RETRY
    assert outcome.status == 502


def test_error_data_is_base64_at_most_1024_characters() -> None:
    assert error_data(b"short") == base64.b64encode(b"short").decode()
    long = bytes(range(256)) * 10
    encoded = error_data(long)
    assert len(encoded) == 1024
    assert base64.b64decode(encoded) == long[:768]
