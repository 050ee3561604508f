"""Nothing accepted is lost: kill -9 with deliveries queued, then a restart."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from devstack import free_port
from tests.integration.broker.conftest import StartBroker, trigger_doc
from tests.support.subscriber import Subscriber

# Retries often and for long, so queued deliveries are waiting when the broker dies.
PATIENT = {"retry": 60, "backoffPolicy": "linear", "backoffDelay": "PT0.1S"}


def _post(ingress: str, event_id: str) -> int:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/durability",
        "ce-type": "durable",
        "content-type": "application/json",
    }
    return httpx.post(ingress, headers=headers, content=b'{"n": 1}', timeout=10).status_code


def test_kill_9_with_events_queued_then_restart_delivers_everything(
    start_broker: StartBroker,
) -> None:
    port = free_port()
    broker = start_broker([trigger_doc("durable", f"http://127.0.0.1:{port}/", delivery=PATIENT)])
    ids = [f"queued-{i}" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i: _post(broker.ingress, i), ids))
    assert set(statuses) == {202}
    assert broker.config()["triggers"][0]["lane"]["waiting_retry"] > 0
    broker.process.kill()  # SIGKILL: no shutdown hook runs

    with Subscriber(port=port) as subscriber:
        broker.process.start()
        subscriber.wait_for(len(ids), timeout=30)
        received = {r.ce["id"] for r in subscriber.settle(0.3)}
    assert received == set(ids)


def test_every_202_survives_a_kill_9_during_a_burst(start_broker: StartBroker) -> None:
    with Subscriber() as subscriber:
        broker = start_broker([trigger_doc("burst", subscriber.url, delivery=PATIENT)])
        accepted: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def produce() -> None:
            with httpx.Client(timeout=5) as client:
                while not stop.is_set():
                    event_id = str(uuid.uuid4())
                    try:
                        response = client.post(
                            broker.ingress,
                            headers={
                                "ce-specversion": "1.0",
                                "ce-id": event_id,
                                "ce-source": "/burst",
                                "ce-type": "burst",
                            },
                        )
                    except httpx.HTTPError:
                        return  # the broker died under us: this one was never accepted
                    if response.status_code == 202:
                        with lock:
                            accepted.append(event_id)

        producers = [threading.Thread(target=produce) for _ in range(8)]
        for thread in producers:
            thread.start()
        deadline = time.monotonic() + 10
        while len(accepted) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        broker.process.kill()
        stop.set()
        for thread in producers:
            thread.join()
        assert len(accepted) >= 100

        broker.process.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            delivered = {r.ce["id"] for r in subscriber.requests}
            if delivered >= set(accepted):
                break
            subscriber.settle(0.1)
        missing = set(accepted) - {r.ce["id"] for r in subscriber.requests}
    assert not missing, f"{len(missing)} accepted events were lost"


def test_graceful_restart_keeps_pending_retries(start_broker: StartBroker) -> None:
    port = free_port()
    broker = start_broker([trigger_doc("graceful", f"http://127.0.0.1:{port}/", delivery=PATIENT)])
    ids = {broker.accept("graceful", id=f"g-{i}") for i in range(20)}
    # uvicorn re-raises SIGTERM after a graceful shutdown, hence -15.
    assert broker.process.stop() in (0, -15)
    assert "Application shutdown complete" in broker.process.log_text()
    with Subscriber(port=port) as subscriber:
        broker.process.start()
        # Linear backoff grows while the subscriber is absent: on a loaded CI machine the
        # slow shutdown leaves retries several seconds out, hence the generous deadline.
        subscriber.wait_for(len(ids), timeout=60)
        assert {r.ce["id"] for r in subscriber.settle(0.3)} == ids
    # Finished deliveries leave the queue: the depth gauge falls back to zero.
    deadline = time.monotonic() + 5
    while 'broker_queue_depth{trigger="test-ns/graceful"} 0.0' not in broker.metrics():
        assert time.monotonic() < deadline, broker.metrics()
        time.sleep(0.05)
