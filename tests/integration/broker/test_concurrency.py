"""A slow, hanging or dead subscriber delays only its own Trigger."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from devstack import free_port
from tests.integration.broker.conftest import StartBroker, trigger_doc
from tests.support.subscriber import Answer, Subscriber

EVENTS = 150


def test_dead_and_hanging_subscribers_do_not_delay_a_healthy_one(
    start_broker: StartBroker,
) -> None:
    with (
        Subscriber(default=Answer(202, delay=60)) as hanging,
        Subscriber(default=Answer(202, delay=0.5)) as slow,
        Subscriber() as healthy,
    ):
        broker = start_broker(
            [
                trigger_doc("hanging", hanging.url),  # never answers, no timeout
                trigger_doc("slow", slow.url),
                trigger_doc(
                    "dead",
                    f"http://127.0.0.1:{free_port()}/",
                    delivery={"retry": 100, "backoffPolicy": "linear", "backoffDelay": "PT0.01S"},
                ),
                trigger_doc("healthy", healthy.url),
            ],
            env={"BROKER_DELIVERY_CONCURRENCY": "4"},
        )
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(lambda i: broker.send("fanout", id=f"f-{i}").status_code, range(EVENTS))
            )
        accepted_at = time.monotonic()
        assert set(statuses) == {202}
        delivered = healthy.wait_for(EVENTS, timeout=15)
        lag = delivered[-1].at - accepted_at
        lanes = {t["name"]: t["lane"] for t in broker.config()["triggers"]}
        hanging.wait_for(4)
        assert len(hanging.requests) == 4  # its lane is full: 4 in flight, the rest wait
        assert len(slow.requests) < EVENTS
    assert {r.ce["id"] for r in delivered} == {f"f-{i}" for i in range(EVENTS)}
    # Generous for a loaded CI machine; a blocked healthy lane would wait 60 s.
    assert lag < 5.0, lag
    assert lanes["hanging"]["in_flight"] == 4
    assert lanes["hanging"]["ready"] == EVENTS - 4
