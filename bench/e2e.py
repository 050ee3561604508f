"""End to end: `POST /v1/user` -> outbox relay -> broker -> Trigger -> audit, stored.

Two measurements against the full local stack (user, broker with the repository's
own k8s/broker.yaml + k8s/triggers.yaml, audit), each process started here:

- saturation: wrk (bench/lua/user.lua) on `POST /v1/user` for the run's duration,
  then wait until audit holds every event; users/s = events stored / (first request
  -> last event stored).
- latency: an open-loop asyncio driver creates users at a fixed rate, recording
  when each 201 arrives; audit's SSE stream (`/v1/events/stream?type=user.storeUser`)
  says when each event is stored (the stream sends rows after their commit); the
  difference per user id gives p50/p99 of "201 -> queryable".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from audit.queries import encode_cursor
from bench import results as r
from bench.diagnostics import audit_notes, broker_notes, scrape, user_notes
from bench.http1 import Http1Client, HttpError
from bench.runner import Load, measured_run, new_run_id, run_load, wrk_metrics
from bench.scenarios import Context, Scenario
from bench.servers import Server, ServerGroup
from bench.stats import percentile
from devstack import broker_address

STORE_USER = "user.storeUser"
BROKER_PATH = "/{}/{}".format(*broker_address())  # the ingress of k8s/broker.yaml's Broker
USER_LOAD = Load("user.lua", lambda run_id: [run_id], connections=32, timeout_s=30.0)
LATENCY_RATE = 300.0
LATENCY_DURATION_S = 10.0
LATENCY_GRACE_S = 15.0
DRAIN_TIMEOUT_S = 45.0
STALL_S = 10.0
QUIET_S = 1.0

# Production default: RFC 9106 second recommended option (user/settings.py).
PRODUCTION_ARGON2 = {
    "ARGON2_TIME_COST": "3",
    "ARGON2_MEMORY_KIB": "65536",
    "ARGON2_PARALLELISM": "4",
}
# Clearly not for production: what the numbers look like when hashing is nearly free.
CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "64", "ARGON2_PARALLELISM": "1"}
# The relay's opt-in concurrent sends (each user's events still in order).
CONCURRENT_RELAY = {"RELAY_CONCURRENCY": "16"}

POLL_S = 0.01
SENT_PER_S = r.SENT_PER_S
SSE_P50_MS = "sse_p50_ms"
SSE_P99_MS = "sse_p99_ms"
POST_P50_MS = "post_p50_ms"
MAX_MS = "max_ms"
SAMPLES = "samples"
CREATED_PER_S = "created_per_s"
POST_P99_MS = "post_p99_ms"
NOT_SEEN = "not_seen"
STORED = "stored"
DRAIN_S = "drain_s"


def argon2_label(env: Mapping[str, str]) -> str:
    """The user service's settings that matter here, as a label for results.md."""
    memory = int(env["ARGON2_MEMORY_KIB"])
    size = f"{memory // 1024} MiB" if memory >= 1024 else f"{memory} KiB"
    label = f"argon2id t={env['ARGON2_TIME_COST']}, m={size}, p={env['ARGON2_PARALLELISM']}"
    relay = env.get("RELAY_CONCURRENCY", "1 (default: strict creation order)")
    return f"{label}; RELAY_CONCURRENCY={relay}"


@dataclass(frozen=True)
class Stack:
    user: Server
    broker: Server
    audit: Server

    @property
    def servers(self) -> list[Server]:
        return [self.user, self.broker, self.audit]

    def notes(self) -> list[str]:
        """What each service's /metrics says about the runs."""
        return [
            *user_notes(scrape(self.user.url)),
            *broker_notes(scrape(self.broker.url)),
            *audit_notes(scrape(self.audit.url)),
        ]


def start_stack(group: ServerGroup, ctx: Context, argon2: Mapping[str, str]) -> Stack:
    """audit, then the broker pointing at it, then user pointing at the broker.

    The three share both CPUs (they are one system; pinning them to one core would
    measure the scheduler, not the code); the generator stays on its CPU.
    """
    audit = group.start("audit", "audit", env={"AUDIT_READ_OPEN": "true"})
    broker = group.start("broker", "broker", env={"BROKER_SERVICES": f"audit={audit.url}"})
    user = group.start(
        "user", "user", env={"K_SINK": broker.url + BROKER_PATH, **argon2}, ready_path="/readyz"
    )
    return Stack(user, broker, audit)


def stored_count(client: httpx.Client, audit_url: str) -> int:
    stats = client.get(audit_url + "/v1/stats").json()
    return int(stats.get("types", {}).get(STORE_USER, 0))


def wait_stored(client: httpx.Client, audit_url: str, target: int) -> tuple[int, float]:
    """Poll audit until it holds at least `target` events and then nothing new arrives
    for QUIET_S (requests wrk abandoned at its deadline still complete server-side);
    returns the count and the wall-clock time the last of them was seen."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    count = stored_count(client, audit_url)
    reached = time.time()
    changed = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        latest = stored_count(client, audit_url)
        if latest != count:
            count, reached, changed = latest, time.time(), time.monotonic()
        elif time.monotonic() - changed > (QUIET_S if count >= target else STALL_S):
            break
    return count, reached


def saturation(name: str, label: str, argon2: Mapping[str, str]) -> Scenario:
    """wrk on POST /v1/user, then wait until audit stores every event; `argon2` is the
    user service's extra environment (hash cost, relay concurrency)."""

    def run(ctx: Context) -> list[r.ConfigResult]:
        settings = ctx.settings
        runs: list[dict[str, float]] = []
        with (
            ctx.servers(name) as group,
            httpx.Client(timeout=10.0) as client,
        ):
            stack = start_stack(group, ctx, argon2)
            stored = stored_count(client, stack.audit.url)
            if settings.warmup_s > 0:
                warm = run_load(
                    stack.user.url, USER_LOAD, settings.warmup_s, settings, new_run_id("uw")
                )
                stored = wait_stored(client, stack.audit.url, stored + warm.result.ok_requests)[0]
            for index in range(settings.runs):
                before = stored  # each run starts from a drained pipeline

                def action(before: int = before) -> dict[str, float]:
                    wrk_run = run_load(
                        stack.user.url, USER_LOAD, settings.duration_s, settings, new_run_id("u")
                    )
                    metrics = wrk_metrics(wrk_run, USER_LOAD)
                    created = wrk_run.result.ok_requests
                    count, reached = wait_stored(client, stack.audit.url, before + created)
                    span = reached - wrk_run.started_at
                    metrics[CREATED_PER_S] = metrics.pop(r.THROUGHPUT)
                    metrics[r.THROUGHPUT] = (count - before) / span if span > 0 else 0.0
                    metrics[DRAIN_S] = max(0.0, span - wrk_run.wall_s)
                    metrics[NOT_SEEN] = max(0.0, created - (count - before))
                    metrics[STORED] = float(count)
                    return metrics

                metrics = measured_run(stack.servers, action)
                stored = int(metrics.pop(STORED))
                ctx.log(
                    f"    run {index + 1}: {metrics[r.THROUGHPUT]:,.1f} users/s stored"
                    f"  (201s {metrics[CREATED_PER_S]:,.1f}/s,"
                    f" POST p99 {metrics.get(r.P99_MS, 0.0):,.0f} ms,"
                    f" drain {metrics[DRAIN_S]:.1f} s, missing {metrics[NOT_SEEN]:.0f})"
                )
                runs.append(metrics)
            diagnosed = stack.notes()
        setup = (
            f"user + broker + audit, {argon2_label(argon2)}; "
            f"wrk -t1 -c{USER_LOAD.connections}, {USER_LOAD.script}"
        )
        return [
            r.ConfigResult(
                name,
                label,
                "ours",
                "users/s",
                runs,
                setup=setup,
                notes=(
                    "users/s = events stored in audit / (first request -> last event stored)",
                    "p50/p99 here are wrk's POST /v1/user latencies at saturation",
                    *diagnosed,
                ),
            )
        ]

    return Scenario(name, label, "ours", ("user.app", "audit.app", "broker.app"), run)


@dataclass
class LatencyRun:
    sent: int = 0
    created: dict[str, float] = field(default_factory=dict)
    """user id -> time its 201 arrived (monotonic)."""
    queryable: dict[str, float] = field(default_factory=dict)
    """user id (event subject) -> time a `GET /v1/events` poll first returned it."""
    streamed: dict[str, float] = field(default_factory=dict)
    """user id -> time the SSE live stream delivered it."""
    post_ms: list[float] = field(default_factory=list)
    failures: int = 0
    send_span_s: float = 0.0
    all_seen: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once sending is over and every created user is queryable."""
    sending: bool = True

    def check_all_seen(self) -> None:
        if not self.sending and self.created.keys() <= self.queryable.keys():
            self.all_seen.set()

    def latencies_ms(self, seen: Mapping[str, float]) -> list[float]:
        return [
            (seen[user_id] - at) * 1000.0 for user_id, at in self.created.items() if user_id in seen
        ]


async def _poll_queryable(client: httpx.AsyncClient, url: str, run: LatencyRun) -> None:
    """Page forward through `GET /v1/events?type=user.storeUser` every POLL_S: the time a
    user's event first comes back is when it became queryable (to within POLL_S)."""
    newest = await client.get(
        url + "/v1/events", params={"type": STORE_USER, "order": "desc", "limit": 1}
    )
    items = newest.json()["items"]
    after = int(items[0]["seq"]) if items else 0
    while True:
        response = await client.get(
            url + "/v1/events",
            params={
                "type": STORE_USER,
                "order": "asc",
                "limit": 1000,
                "cursor": encode_cursor(after, "asc"),
            },
        )
        now = time.monotonic()
        page = response.json()["items"]
        for item in page:
            subject = item.get("subject")
            if isinstance(subject, str):
                run.queryable.setdefault(subject, now)
            after = max(after, int(item["seq"]))
        run.check_all_seen()
        if len(page) < 1000:
            await asyncio.sleep(POLL_S)


async def _follow_stream(
    client: httpx.AsyncClient, url: str, run: LatencyRun, ready: asyncio.Event
) -> None:
    """Record when the SSE live stream delivers each `user.storeUser` event."""
    async with client.stream(
        "GET", url + "/v1/events/stream", params={"type": STORE_USER}, timeout=None
    ) as response:
        response.raise_for_status()
        ready.set()
        data: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line and data:
                now = time.monotonic()
                with contextlib.suppress(ValueError, AttributeError):
                    subject = json.loads("\n".join(data)).get("subject")
                    if isinstance(subject, str):
                        run.streamed.setdefault(subject, now)
                data = []


async def _create(client: Http1Client, name: str, run: LatencyRun) -> None:
    body = json.dumps({"name": name, "password": "correct horse battery staple"}).encode()
    started = time.monotonic()
    try:
        response = await client.post_json("/v1/user", body)
    except (OSError, HttpError, TimeoutError):
        run.failures += 1
        return
    arrived = time.monotonic()
    if response.status != 201:
        run.failures += 1
        return
    run.created[json.loads(response.body)["id"]] = arrived
    run.post_ms.append((arrived - started) * 1000.0)


async def drive(
    user_url: str,
    audit_url: str,
    rate: float,
    duration_s: float,
    prefix: str,
    grace_s: float = LATENCY_GRACE_S,
) -> LatencyRun:
    """Open loop: request i starts at t0 + i/rate whether or not earlier ones finished."""
    run = LatencyRun()
    client = Http1Client(user_url, max_connections=256)
    async with httpx.AsyncClient(timeout=10.0) as reader:
        ready = asyncio.Event()
        watchers = [
            asyncio.create_task(_follow_stream(reader, audit_url, run, ready)),
            asyncio.create_task(_poll_queryable(reader, audit_url, run)),
        ]
        await asyncio.wait_for(ready.wait(), 10.0)
        loop = asyncio.get_running_loop()
        total = round(rate * duration_s)
        tasks: list[asyncio.Task[None]] = []
        t0 = loop.time()
        for index in range(total):
            delay = t0 + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_create(client, f"{prefix}-{index}", run)))
        run.sent = total
        run.send_span_s = loop.time() - t0
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        run.failures += len(pending)
        # Then give the pipeline a bounded time to deliver what was created.
        run.sending = False
        run.check_all_seen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.all_seen.wait(), grace_s)
        for watcher in watchers:
            watcher.cancel()
        for watcher in watchers:
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await watcher
        await client.aclose()
    return run


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _latency_metrics(result: LatencyRun) -> dict[str, float]:
    span = result.send_span_s
    queryable = result.latencies_ms(result.queryable)
    streamed = result.latencies_ms(result.streamed)
    metrics = {
        r.THROUGHPUT: len(result.created) / span if span else 0.0,
        SENT_PER_S: result.sent / span if span else 0.0,
        r.ERRORS: float(result.failures),
        NOT_SEEN: float(len(result.created) - len(queryable)),
        SAMPLES: float(len(queryable)),
    }
    if queryable:
        metrics[r.P50_MS] = percentile(queryable, 50)
        metrics[r.P90_MS] = percentile(queryable, 90)
        metrics[r.P99_MS] = percentile(queryable, 99)
        metrics[MAX_MS] = max(queryable)
    if streamed:
        metrics[SSE_P50_MS] = percentile(streamed, 50)
        metrics[SSE_P99_MS] = percentile(streamed, 99)
    if result.post_ms:
        metrics[POST_P50_MS] = percentile(result.post_ms, 50)
        metrics[POST_P99_MS] = percentile(result.post_ms, 99)
    return metrics


def _offered_rate(ctx: Context, half_of: str | None) -> tuple[float, str]:
    """LATENCY_RATE, or with `half_of`: half of what that saturation run sustained, when
    that is less (an open loop far above capacity only measures a growing queue)."""
    if half_of is None:
        return LATENCY_RATE, f"offered {LATENCY_RATE:.0f} users/s, the target's rate"
    saturated = next((c for c in ctx.done if c.name == half_of), None)
    users_per_s = saturated.median(r.THROUGHPUT) if saturated else None
    if users_per_s is not None and users_per_s / 2 < LATENCY_RATE:
        rate = max(1.0, round(users_per_s / 2, 1))
        return rate, (
            f"offered {rate:g} users/s, half of the {users_per_s:,.1f} users/s this stack "
            "sustained at saturation"
        )
    return LATENCY_RATE, f"offered {LATENCY_RATE:.0f} users/s"


def latency(
    name: str, label: str, argon2: Mapping[str, str], *, half_of: str | None = None
) -> Scenario:
    """201 -> queryable at LATENCY_RATE, or at half the rate `half_of` measured."""

    def run(ctx: Context) -> list[r.ConfigResult]:
        rate, offered = _offered_rate(ctx, half_of)
        runs: list[dict[str, float]] = []
        with ctx.servers(name) as group:
            stack = start_stack(group, ctx, argon2)
            # A short warm-up at the same rate, then one measured run (it is 10 s long).
            asyncio.run(
                drive(stack.user.url, stack.audit.url, rate, 1.0, new_run_id("lw"), grace_s=5.0)
            )

            def action() -> dict[str, float]:
                # The driver is this process: its CPU is the generator's, not "other".
                cpu_before, started = _own_cpu_seconds(), time.monotonic()
                result = asyncio.run(
                    drive(
                        stack.user.url,
                        stack.audit.url,
                        rate,
                        LATENCY_DURATION_S,
                        new_run_id("l"),
                    )
                )
                metrics = _latency_metrics(result)
                metrics[r.GENERATOR_CPU] = (_own_cpu_seconds() - cpu_before) / (
                    time.monotonic() - started
                )
                return metrics

            metrics = measured_run(stack.servers, action)
            nan = float("nan")
            ctx.log(
                f"    {metrics[SENT_PER_S]:,.0f}/s offered, {metrics[r.THROUGHPUT]:,.0f}/s created;"
                f" 201->queryable p50 {metrics.get(r.P50_MS, nan):.1f} ms"
                f" p99 {metrics.get(r.P99_MS, nan):.1f} ms;"
                f" 201->SSE p50 {metrics.get(SSE_P50_MS, nan):.1f} ms"
                f" p99 {metrics.get(SSE_P99_MS, nan):.1f} ms;"
                f" not seen {metrics[NOT_SEEN]:.0f}, failures {metrics[r.ERRORS]:.0f}"
            )
            runs.append(metrics)
            diagnosed = stack.notes()
        nan = float("nan")
        notes = (
            f"{offered} for {LATENCY_DURATION_S:.0f} s (open loop); throughput = 201s per "
            f"second; {metrics[SAMPLES]:.0f} users measured",
            "p50/p99 = 201 -> first returned by GET /v1/events (polled every "
            f"{POLL_S * 1000:.0f} ms); via the SSE stream: p50 "
            f"{metrics.get(SSE_P50_MS, nan):.0f} ms, p99 {metrics.get(SSE_P99_MS, nan):.0f} ms",
            f"POST /v1/user latency at this rate: p50 {metrics.get(POST_P50_MS, nan):.1f} ms, "
            f"p99 {metrics.get(POST_P99_MS, nan):.1f} ms; not queryable within "
            f"{LATENCY_GRACE_S:.0f} s: {metrics[NOT_SEEN]:.0f}; failed/cancelled POSTs: "
            f"{metrics[r.ERRORS]:.0f}",
            *diagnosed,
        )
        return [
            r.ConfigResult(
                name,
                f"{label} at {rate:g} users/s",
                "ours",
                "users/s",
                runs,
                setup=(
                    f"user + broker + audit, {argon2_label(argon2)}; open-loop asyncio driver "
                    "(raw HTTP/1.1 POSTs, httpx for the reads)"
                ),
                notes=notes,
            )
        ]

    return Scenario(name, label, "ours", ("user.app", "audit.app", "broker.app"), run)


def e2e_scenarios() -> list[Scenario]:
    return [
        saturation(
            "e2e-saturation", "end to end: POST /v1/user -> stored in audit", PRODUCTION_ARGON2
        ),
        saturation(
            "e2e-saturation-cheap",
            "end to end, CHEAP argon2id (not for production)",
            CHEAP_ARGON2,
        ),
        latency(
            "e2e-latency",
            "201 -> queryable",
            PRODUCTION_ARGON2,
            half_of="e2e-saturation",
        ),
        latency("e2e-latency-cheap", "201 -> queryable, CHEAP argon2id", CHEAP_ARGON2),
        latency(
            "e2e-latency-cheap-half",
            "201 -> queryable, CHEAP argon2id",
            CHEAP_ARGON2,
            half_of="e2e-saturation-cheap",
        ),
        saturation(
            "e2e-saturation-cheap-relay16",
            "end to end, CHEAP argon2id, RELAY_CONCURRENCY=16",
            {**CHEAP_ARGON2, **CONCURRENT_RELAY},
        ),
        latency(
            "e2e-latency-cheap-relay16",
            "201 -> queryable, CHEAP argon2id, RELAY_CONCURRENCY=16",
            {**CHEAP_ARGON2, **CONCURRENT_RELAY},
        ),
    ]
