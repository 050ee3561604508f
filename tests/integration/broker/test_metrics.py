"""Metrics like Knative's broker: events received, dispatch latency, queue depth."""

from __future__ import annotations

import re

from devstack import free_port
from tests.integration.broker.conftest import StartBroker, trigger_doc
from tests.support.subscriber import Subscriber


def _value(metrics: str, name: str, **labels: str) -> float:
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in metrics")


def test_broker_metrics(start_broker: StartBroker) -> None:
    with Subscriber() as subscriber:
        broker = start_broker(
            [
                trigger_doc("fast", subscriber.url, filters=[{"exact": {"type": "m.ok"}}]),
                trigger_doc(
                    "stuck",
                    f"http://127.0.0.1:{free_port()}/",
                    filters=[{"exact": {"type": "m.stuck"}}],
                    delivery={"retry": 100, "backoffPolicy": "linear", "backoffDelay": "PT1S"},
                ),
            ]
        )
        for _ in range(3):
            broker.accept("m.ok")
        for _ in range(5):
            broker.accept("m.stuck")
        assert broker.send("m.bad", knativebrokerttl="0").status_code == 400
        subscriber.wait_for(3)
        subscriber.settle(0.2)
        metrics = broker.metrics()
    received = "broker_events_received_total"
    assert _value(metrics, received, event_type="m.ok", response_code="202", broker="default") == 3
    assert _value(metrics, received, event_type="m.bad", response_code="400") == 1
    latency = "broker_dispatch_latency_seconds_count"
    assert _value(metrics, latency, trigger="fast", response_code_class="2xx") == 3
    assert _value(metrics, "broker_queue_depth", trigger="test-ns/stuck") == 5
    assert _value(metrics, "broker_queue_depth", trigger="test-ns/fast") == 0
    assert _value(metrics, "broker_trigger_events_total", trigger="fast", response_code="202") == 3
