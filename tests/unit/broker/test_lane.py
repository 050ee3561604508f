"""A Trigger's lane keeps delivering when all its in-flight attempts end together.

The subscriber is a real ASGI app behind httpx's ASGI transport and the queue a real
SQLite file. Before the fix, each finishing attempt looked for free slots while the
others (and itself) still counted as in flight, so a lane whose attempts all ended in
one event-loop turn stopped with every other delivery ready and nothing in flight.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from starlette.types import Receive, Scope, Send

from broker.dispatcher import Dispatcher, DispatchSettings
from broker.manifests import load_config
from broker.queue import DeliveryQueue
from common.events import CloudEvent

CONCURRENCY = 8
EVENTS = 40
MANIFEST = """\
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default, namespace: ns}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, namespace: ns}
spec:
  broker: default
  subscriber: {uri: "http://subscriber.test/"}
"""


class GatedSubscriber:
    """Holds the first CONCURRENCY requests, then answers them all at once: 202."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.gate = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        self.received.append(headers[b"ce-id"].decode())
        if len(self.received) >= CONCURRENCY:
            self.gate.set()
        await self.gate.wait()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _refuse_replies(*_: object) -> bool:
    raise AssertionError("no reply expected")


def test_a_lane_whose_attempts_end_together_keeps_delivering(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    config = load_config([manifest], {})
    (trigger,) = config.triggers.values()

    async def scenario() -> None:
        queue = DeliveryQueue(tmp_path / "q.db")
        await queue.open()
        for i in range(EVENTS):
            attributes = {"specversion": "1.0", "id": f"e-{i}", "source": "/lane", "type": "t"}
            await queue.enqueue(CloudEvent(attributes, b"{}"), (), [trigger.key])
        subscriber = GatedSubscriber()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=subscriber))
        dispatcher = Dispatcher(
            queue, client, DispatchSettings(concurrency=CONCURRENCY), _refuse_replies
        )
        await dispatcher.start(config)  # reads the queued rows back, as after a restart
        deadline = time.monotonic() + 10
        try:
            while len(subscriber.received) < EVENTS:
                lane = dict(dispatcher.lanes[trigger.key].snapshot())
                assert time.monotonic() < deadline, (len(subscriber.received), lane)
                await asyncio.sleep(0.01)
        finally:
            await dispatcher.stop(grace=1)
            await client.aclose()
            await queue.close()
        assert sorted(subscriber.received) == sorted(f"e-{i}" for i in range(EVENTS))

    asyncio.run(scenario())
