"""Local broker: ingress accept rate, and delivery rate to a fast subscriber.

The broker reads its own Broker + Trigger manifests (written to the temp dir) whose
one Trigger sends every event to the ceiling app, which counts what it receives.
Each run: wrk saturates the ingress for the run's duration; then the harness waits
until the subscriber holds every accepted event. Delivery rate = delivered events /
(time from the first request to the last delivery), so a backlog left at the end of
the ingress phase counts against it.
"""

from __future__ import annotations

import time

import httpx

from bench import results as r
from bench.diagnostics import broker_notes, scrape
from bench.runner import Load, measured_run, new_run_id, run_load, wrk_metrics
from bench.scenarios import BINARY, Context, Scenario

NAMESPACE = "bench"
BROKER = "default"

BROKER_YAML = f"""\
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: {BROKER}
  namespace: {NAMESPACE}
spec:
  delivery:
    retry: 5
    backoffPolicy: exponential
    backoffDelay: PT0.5S
    timeout: PT10S
"""

TRIGGERS_YAML = f"""\
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: to-sink
  namespace: {NAMESPACE}
spec:
  broker: {BROKER}
  filter:
    attributes:
      type: user.storeUser
  subscriber:
    ref:
      apiVersion: v1
      kind: Service
      name: sink
"""

DRAIN_TIMEOUT_S = 45.0
DELIVERY = "delivery_per_s"
DRAIN_S = "drain_s"
UNDELIVERED = "undelivered"


def _sink_stats(client: httpx.Client, url: str) -> dict[str, float]:
    data: dict[str, float] = client.get(url + "/stats").json()
    return data


def broker_scenario() -> Scenario:
    load = Load(
        BINARY.script,
        lambda run_id: [run_id, f"/{NAMESPACE}/{BROKER}"],
        connections=BINARY.connections,
    )

    def run(ctx: Context) -> list[r.ConfigResult]:
        settings = ctx.settings
        ingress_runs: list[dict[str, float]] = []
        delivery_runs: list[dict[str, float]] = []
        with ctx.servers("broker") as group:
            # The subscriber shares the generator's CPU: the broker keeps its own core.
            sink = group.start("sink", "bench.baselines.ceiling", cpus=settings.generator_cpus)
            manifests = group.work_dir / "manifests"
            manifests.mkdir()
            (manifests / "broker.yaml").write_text(BROKER_YAML)
            (manifests / "triggers.yaml").write_text(TRIGGERS_YAML)
            broker = group.start(
                "broker",
                "broker",
                env={
                    "BROKER_MANIFESTS": ",".join(
                        str(manifests / file) for file in ("broker.yaml", "triggers.yaml")
                    ),
                    "BROKER_SERVICES": f"sink={sink.url}",
                },
                cpus=settings.server_cpus,
            )
            with httpx.Client(timeout=5.0) as client:
                if settings.warmup_s > 0:
                    run_load(broker.url, load, settings.warmup_s, settings, new_run_id("bw"))
                    _wait_for(client, sink.url, _sink_stats(client, sink.url)["count"])
                for index in range(settings.runs):
                    before = _sink_stats(client, sink.url)["count"]
                    delivery: dict[str, float] = {}

                    def action(
                        before: float = before, delivery: dict[str, float] = delivery
                    ) -> dict[str, float]:
                        wrk_run = run_load(
                            broker.url, load, settings.duration_s, settings, new_run_id("b")
                        )
                        metrics = wrk_metrics(wrk_run, load)
                        accepted = wrk_run.result.ok_requests
                        ingress_end = wrk_run.started_at + wrk_run.wall_s
                        stats = _wait_for(client, sink.url, before + accepted)
                        delivered = stats["count"] - before
                        span = stats["last"] - wrk_run.started_at
                        delivery[r.THROUGHPUT] = delivered / span if span > 0 else 0.0
                        delivery[DRAIN_S] = max(0.0, stats["last"] - ingress_end)
                        delivery[UNDELIVERED] = max(0.0, accepted - delivered)
                        return metrics

                    metrics = measured_run([broker], action)
                    delivery[r.SERVER_CPU] = metrics[r.SERVER_CPU]
                    ctx.log(
                        f"    run {index + 1}: ingress {metrics[r.THROUGHPUT]:,.0f}/s"
                        f"  p99 {metrics.get(r.P99_MS, 0.0):.1f} ms"
                        f"  delivery {delivery[r.THROUGHPUT]:,.0f}/s"
                        f"  drain {delivery[DRAIN_S]:.1f} s"
                        f"  undelivered {delivery[UNDELIVERED]:.0f}"
                    )
                    ingress_runs.append(metrics)
                    delivery_runs.append(delivery)
            diagnosed = broker_notes(scrape(broker.url))
        setup = f"python -m broker, 1 Trigger to the ceiling app; wrk -t1 -c{load.connections}"
        return [
            r.ConfigResult(
                "broker-ingress",
                "broker: ingress accept (persisted, 202)",
                "ours",
                "events/s",
                ingress_runs,
                setup=setup,
                notes=("the server CPU column includes the delivery work done meanwhile",),
            ),
            r.ConfigResult(
                "broker-delivery",
                "broker: delivery to a fast subscriber",
                "ours",
                "events/s",
                delivery_runs,
                setup=setup,
                notes=(
                    "delivered / (first request -> last delivery), ingress saturated meanwhile",
                    *diagnosed,
                ),
            ),
        ]

    return Scenario("broker", "local broker", "ours", ("broker.app", "broker.__main__"), run)


def _wait_for(client: httpx.Client, sink_url: str, count: float) -> dict[str, float]:
    """Poll the subscriber until it has `count` deliveries or the drain deadline passes."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    stats = _sink_stats(client, sink_url)
    previous, stalled_since = stats["count"], time.monotonic()
    while stats["count"] < count and time.monotonic() < deadline:
        time.sleep(0.02)
        stats = _sink_stats(client, sink_url)
        if stats["count"] != previous:
            previous, stalled_since = stats["count"], time.monotonic()
        elif time.monotonic() - stalled_since > 15.0:
            break  # nothing arrives any more: report what did
    return stats
