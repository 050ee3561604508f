"""Replies: a CloudEvent in a 2xx answer goes back through the ingress with the TTL
decremented and is routed like any event; the TTL ends reply loops."""

from __future__ import annotations

import itertools
import json

from tests.integration.broker.conftest import StartBroker, trigger_doc
from tests.support.subscriber import Answer, Received, Subscriber

_ids = itertools.count()


def _reply(received: Received) -> Answer:
    if received.path == "/binary":
        return Answer(
            200,
            b'{"answer": 42}',
            {
                "ce-specversion": "1.0",
                "ce-id": f"reply-{received.ce['id']}",
                "ce-source": "/replier",
                "ce-type": "reply.binary",
                "content-type": "application/json",
            },
        )
    if received.path == "/structured":
        event = {
            "specversion": "1.0",
            "id": f"reply-{received.ce['id']}",
            "source": "/replier",
            "type": "reply.structured",
            "data": {"answer": 43},
        }
        return Answer(
            200, json.dumps(event).encode(), {"content-type": "application/cloudevents+json"}
        )
    if received.path == "/loop":
        # Always answer with another event the same Trigger matches.
        return Answer(
            200,
            b"",
            {
                "ce-specversion": "1.0",
                "ce-id": f"loop-{next(_ids)}",
                "ce-source": "/replier",
                "ce-type": "loop",
            },
        )
    if received.path == "/malformed":
        return Answer(200, b"", {"ce-specversion": "1.0", "ce-id": "x"})  # no source/type
    return Answer(202)


def test_reply_events_re_enter_the_broker(start_broker: StartBroker) -> None:
    with Subscriber(answer=_reply) as subscriber:
        broker = start_broker(
            [
                trigger_doc(
                    "binary",
                    subscriber.url + "/binary",
                    filters=[{"exact": {"type": "ask.binary"}}],
                ),
                trigger_doc(
                    "structured",
                    subscriber.url + "/structured",
                    filters=[{"exact": {"type": "ask.structured"}}],
                ),
                trigger_doc(
                    "replies", subscriber.url + "/replies", filters=[{"prefix": {"type": "reply."}}]
                ),
            ]
        )
        broker.accept("ask.binary", id="q1")
        broker.accept("ask.structured", id="q2")
        replies = subscriber.wait_on("/replies", 2)
    by_id = {r.ce["id"]: r for r in replies}
    assert set(by_id) == {"reply-q1", "reply-q2"}
    assert json.loads(by_id["reply-q1"].body) == {"answer": 42}
    assert json.loads(by_id["reply-q2"].body) == {"answer": 43}
    for reply in replies:
        assert "knativearrivaltime" in reply.ce
        assert "knativebrokerttl" not in reply.ce


def test_ttl_ends_a_reply_loop(start_broker: StartBroker) -> None:
    with Subscriber(answer=_reply) as subscriber:
        broker = start_broker(
            [trigger_doc("loop", subscriber.url + "/loop", filters=[{"exact": {"type": "loop"}}])]
        )
        broker.accept("loop", id="start", knativebrokerttl="3")
        # ttl 3, 2, 1 are delivered; the reply that would carry ttl 0 is dropped.
        subscriber.wait_on("/loop", 3)
        assert len(subscriber.settle(0.5)) == 3
        metrics = broker.metrics()
    assert 'broker_replies_total{result="dropped_ttl",trigger="test-ns/loop"} 1.0' in metrics
    assert 'broker_replies_total{result="accepted",trigger="test-ns/loop"} 2.0' in metrics


def test_default_ttl_is_255(start_broker: StartBroker) -> None:
    with Subscriber(answer=_reply) as subscriber:
        broker = start_broker(
            [trigger_doc("loop", subscriber.url + "/loop", filters=[{"exact": {"type": "loop"}}])]
        )
        broker.accept("loop", id="start")
        subscriber.wait_on("/loop", 255, timeout=60)
        assert len(subscriber.settle(0.5)) == 255


def test_malformed_reply_is_a_502_failure(start_broker: StartBroker) -> None:
    with Subscriber(answer=_reply) as subscriber:
        broker = start_broker(
            [
                trigger_doc(
                    "malformed",
                    subscriber.url + "/malformed",
                    delivery={"retry": 1, "deadLetterSink": {"uri": subscriber.url + "/dls"}},
                )
            ]
        )
        broker.accept("anything")
        dead = subscriber.wait_on("/dls", 1)[0]
    assert len(subscriber.on("/malformed")) == 2
    assert dead.ce["knativeerrorcode"] == "502"
