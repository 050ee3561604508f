"""Delivery: one lane per Trigger, retries with backoff, dead letters, replies.

Matching happened at ingress (a delivery row per matching Trigger); this module
only delivers. Each Trigger has its own lane with its own concurrency limit, so a
slow or dead subscriber fills only its own lane. A retry waits on a timer, not in
a worker slot, and its time is written to the queue (`next_attempt_at`) so a
restart keeps the schedule. A lane holds at most `backlog_limit` deliveries and
`backlog_bytes` of events in memory; beyond that it leaves them in the queue file
and reads them back in id order (the same path a restart takes).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from broker import metrics
from broker.delivery import DeliveryFormat
from broker.headers import UnforwardableHeader, forwardable
from broker.manifests import BrokerConfig, Trigger
from broker.queue import Delivery, DeliveryQueue, Phase, footprint
from broker.responses import NOT_A_CLOUDEVENT, Outcome, Verdict, error_data, judge
from common.events import CloudEvent, encode_binary, encode_structured
from common.logs import request_id_var, traceparent_var

logger = logging.getLogger(__name__)

TTL = "knativebrokerttl"
# Called with a subscriber's reply; True when it was stored (or deliberately dropped).
ReplyHandler = Callable[[Trigger, Delivery, CloudEvent], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    concurrency: int = 64
    backlog_limit: int = 10_000
    # Bytes of deliveries a lane holds in memory (plus at most one more event).
    backlog_bytes: int = 32 * 1024 * 1024
    refill_batch: int = 1_000
    # Per attempt when the Trigger sets no `timeout`: a hung subscriber must not hold a slot.
    default_timeout: float = 30.0
    # Subscriber responses (and so replies) are read up to this many bytes.
    max_response_bytes: int = 1024 * 1024


def _outgoing(event: CloudEvent) -> CloudEvent:
    # The broker's hop counter stays inside the broker.
    return event.with_attributes(**{TTL: None}) if TTL in event.attributes else event


class Dispatcher:
    """Owns the lanes and the HTTP client; `apply` swaps Triggers without losing work."""

    def __init__(
        self,
        queue: DeliveryQueue,
        client: httpx.AsyncClient,
        settings: DispatchSettings,
        on_reply: ReplyHandler,
    ) -> None:
        self.queue = queue
        self.client = client
        self.settings = settings
        self.on_reply = on_reply
        self.lanes: dict[str, TriggerLane] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self, config: BrokerConfig) -> None:
        """Set the depth gauges from the queue file and start a lane per Trigger."""
        for trigger_key, count in (await self.queue.pending_counts()).items():
            metrics.QUEUE_DEPTH.labels(trigger_key).set(count)
            if trigger_key not in config.triggers:
                logger.warning(
                    "deliveries kept for a Trigger that is not configured",
                    extra={"trigger": trigger_key, "pending": count},
                )
        self.apply(config)

    def apply(self, config: BrokerConfig) -> None:
        """Start lanes for new Triggers, update changed ones, stop removed ones.

        A removed Trigger's pending deliveries stay in the queue file; they resume if a
        Trigger with the same namespace/name comes back.
        """
        if self._closed:
            return
        for key, trigger in config.triggers.items():
            lane = self.lanes.get(key)
            if lane is None:
                lane = TriggerLane(trigger, self)
                self.lanes[key] = lane
                lane.start()
            else:
                lane.trigger = trigger
        for key in list(self.lanes):
            if key not in config.triggers:
                lane = self.lanes.pop(key)
                task = asyncio.get_running_loop().create_task(lane.stop(grace=0))
                self._stopping.add(task)  # keep a reference until it is done
                task.add_done_callback(self._stopping.discard)
                logger.info(
                    "trigger removed; its pending deliveries are parked", extra={"trigger": key}
                )

    def accepted(self, trigger_key: str, delivery: Delivery) -> None:
        """A delivery row was committed for `trigger_key`: schedule it."""
        metrics.QUEUE_DEPTH.labels(trigger_key).inc()
        lane = self.lanes.get(trigger_key)
        if lane is not None:
            lane.offer(delivery)

    async def stop(self, grace: float) -> None:
        """Stop all lanes, letting in-flight attempts finish for up to `grace` seconds."""
        self._closed = True
        lanes, self.lanes = list(self.lanes.values()), {}
        await asyncio.gather(*(lane.stop(grace) for lane in lanes))

    # -- one attempt ---------------------------------------------------------------

    async def attempt(self, trigger: Trigger, delivery: Delivery) -> bool:
        """Make one attempt; True when the delivery is finished (whatever the result),
        False when it was rescheduled (`delivery` updated).

        Whatever goes wrong inside the attempt is a failed attempt: it counts against
        `retry` and ends in the dead-letter sink, never in a loop outside the budget.
        """
        spec = trigger.delivery
        if delivery.phase is Phase.SUBSCRIBER:
            target = trigger.subscriber
        elif spec.dead_letter_sink is None:
            self._drop(trigger, delivery, "dead-letter sink removed from the Trigger")
            return True
        else:
            target = spec.dead_letter_sink
        try:
            outcome = await self._deliver(trigger, target, delivery)
        except Exception as exc:
            logger.exception(
                "delivery attempt failed inside the broker",
                extra={"trigger": trigger.key, "target": target, "event_id": delivery.event.id},
            )
            outcome = Outcome(Verdict.RETRY, None, reason=f"broker error: {type(exc).__name__}")
        if outcome.verdict is Verdict.DELIVERED:
            return True
        if outcome.verdict is Verdict.RETRY and delivery.attempt < spec.retry:
            wait = spec.backoff(delivery.attempt)
            delivery.attempt += 1
            delivery.next_attempt_at = time.time() + wait
            logger.info(
                "delivery failed; retrying",
                extra={
                    "trigger": trigger.key,
                    "target": target,
                    "status": outcome.status,
                    "reason": outcome.reason,
                    "retry": delivery.attempt,
                    "backoff_s": wait,
                },
            )
            return False
        if delivery.phase is Phase.SUBSCRIBER and spec.dead_letter_sink is not None:
            delivery.phase = Phase.DEAD_LETTER
            delivery.attempt = 0
            delivery.next_attempt_at = time.time()
            delivery.error_code = outcome.status
            delivery.error_data = error_data(outcome.body) if outcome.body else None
            metrics.DEAD_LETTERED.labels(trigger.key).inc()
            logger.warning(
                "delivery failed; sending to the dead-letter sink",
                extra={
                    "trigger": trigger.key,
                    "target": target,
                    "status": outcome.status,
                    "reason": outcome.reason,
                    "event_id": delivery.event.id,
                },
            )
            return False
        self._drop(trigger, delivery, outcome.reason, status=outcome.status)
        return True

    async def _deliver(self, trigger: Trigger, target: str, delivery: Delivery) -> Outcome:
        """Send to `target` and, for a subscriber's reply, hand the reply to the ingress."""
        if delivery.phase is Phase.SUBSCRIBER:
            event = _outgoing(delivery.event)
        else:
            event = self._dead_letter_event(trigger, delivery)
        outcome = await self._send(trigger, target, event, delivery)
        if outcome.verdict is not Verdict.DELIVERED:
            return outcome
        if outcome.reply is None or delivery.phase is Phase.DEAD_LETTER:
            return outcome
        if await self.on_reply(trigger, delivery, outcome.reply):
            return Outcome(Verdict.DELIVERED, outcome.status)
        return Outcome(Verdict.RETRY, 500, reason="the reply could not be stored")

    def _drop(
        self, trigger: Trigger, delivery: Delivery, reason: str, status: int | None = None
    ) -> None:
        where = "dead_letter" if delivery.phase is Phase.DEAD_LETTER else "subscriber"
        metrics.DROPPED.labels(trigger.key, f"{where}_failed").inc()
        logger.error(
            "event dropped",
            extra={
                "trigger": trigger.key,
                "phase": where,
                "status": status,
                "reason": reason,
                "event_id": delivery.event.id,
                "event_source": delivery.event.source,
            },
        )

    def _dead_letter_event(self, trigger: Trigger, delivery: Delivery) -> CloudEvent:
        extensions: dict[str, str | int | None] = {
            "knativeerrordest": trigger.subscriber,
            "knativeerrorcode": delivery.error_code,
            "knativeerrordata": delivery.error_data,
        }
        return _outgoing(delivery.event).with_attributes(**extensions)

    async def _send(
        self, trigger: Trigger, target: str, event: CloudEvent, delivery: Delivery
    ) -> Outcome:
        spec = trigger.delivery
        if spec.format is DeliveryFormat.JSON:
            headers, body = encode_structured(event)
        else:
            headers, body = encode_binary(event)
        passed = [(name, value) for name, value in delivery.headers if forwardable(value)]
        if len(passed) < len(delivery.headers) and delivery.phase is Phase.SUBSCRIBER:
            # Stored before the ingress refused such values; the dead-letter sink gets
            # the event without them.
            refused = next(n for n, v in delivery.headers if not forwardable(v))
            reason = str(UnforwardableHeader(refused))
            return self._record(trigger, judge(None, (), b"", reason), 0.0)
        headers.extend(passed)
        headers.append(("prefer", "reply"))
        headers.append(("kn-namespace", trigger.namespace))
        timeout = spec.timeout or self.settings.default_timeout
        limit = self.settings.max_response_bytes
        started = time.perf_counter()
        try:
            # One deadline for the whole exchange: httpx's timeouts are per read.
            async with (
                asyncio.timeout(timeout),
                self.client.stream(
                    "POST", target, content=body, headers=headers, timeout=httpx.Timeout(timeout)
                ) as response,
            ):
                content, complete = await _read_at_most(response, limit)
        except (TimeoutError, httpx.TimeoutException):
            outcome = judge(None, (), b"", f"timed out after {timeout:g}s")
        except (httpx.HTTPError, OSError) as exc:
            outcome = judge(None, (), b"", f"{type(exc).__name__}: {exc}")
        else:
            if complete or not 200 <= response.status_code < 300:
                outcome = judge(response.status_code, response.headers.raw, content)
            else:
                outcome = Outcome(
                    Verdict.RETRY,
                    NOT_A_CLOUDEVENT,
                    content,
                    reason=f"a response body over {limit} bytes (MAX_BODY_BYTES)",
                )
        return self._record(trigger, outcome, time.perf_counter() - started)

    @staticmethod
    def _record(trigger: Trigger, outcome: Outcome, elapsed: float) -> Outcome:
        code_class = metrics.status_class(outcome.status)
        metrics.DISPATCH_LATENCY.labels(
            trigger.namespace, trigger.broker, trigger.name, code_class
        ).observe(elapsed)
        metrics.TRIGGER_EVENTS.labels(
            trigger.namespace,
            trigger.broker,
            trigger.name,
            "" if outcome.status is None else str(outcome.status),
            code_class,
        ).inc()
        return outcome


async def _read_at_most(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of the body, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    # Raw bytes: the client asks for identity encoding, and a decoder could inflate a bomb.
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: limit - (size - len(chunk))])
            return b"".join(chunks), False
        chunks.append(chunk)
    return b"".join(chunks), True


class TriggerLane:
    """The deliveries of one Trigger: ready, waiting for a retry, or in flight."""

    def __init__(self, trigger: Trigger, dispatcher: Dispatcher) -> None:
        self.trigger = trigger
        self.dispatcher = dispatcher
        self.limit = dispatcher.settings.backlog_limit
        self.budget = dispatcher.settings.backlog_bytes
        self.held_bytes = 0
        self.ready: deque[Delivery] = deque()
        self.delayed: list[tuple[float, int, Delivery]] = []
        self.inflight: set[asyncio.Task[None]] = set()
        self.held = 0
        # Start "spilled": everything pending is in the queue file until read back.
        self.spilled = True
        self.cursor = 0
        self.max_handed = 0
        self._refill: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def start(self) -> None:
        self._maybe_refill()

    def offer(self, delivery: Delivery) -> None:
        if self._closed:
            return
        if self._full(footprint(delivery)):
            # Over the memory limit: the row is committed, read it back later.
            self.spilled = True
            self.max_handed = max(self.max_handed, delivery.id)
            self._maybe_refill()
            return
        self.cursor = max(self.cursor, delivery.id)
        self._admit(delivery)
        self._pump()

    def _full(self, size: int) -> bool:
        # The byte budget may be crossed by one event, so a lone large one still moves.
        over_budget = self.held > 0 and self.held_bytes + size > self.budget
        return self.spilled or self.held >= self.limit or over_budget

    def _admit(self, delivery: Delivery) -> None:
        self.held += 1
        self.held_bytes += footprint(delivery)
        self._schedule(delivery)

    def _schedule(self, delivery: Delivery) -> None:
        wait = delivery.next_attempt_at - time.time()
        if wait <= 0:
            self.ready.append(delivery)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + wait
        heapq.heappush(self.delayed, (due, delivery.id, delivery))
        # uvloop's call_at returns a plain Handle (no when()) when its time had passed: due now.
        if self._timer is None or getattr(self._timer, "when", lambda: 0.0)() > due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self.delayed and self.delayed[0][0] <= now:
            self.ready.append(heapq.heappop(self.delayed)[2])
        if self.delayed and not self._closed:
            self._timer = loop.call_at(self.delayed[0][0], self._on_timer)
        self._pump()

    def _pump(self) -> None:
        concurrency = self.dispatcher.settings.concurrency
        while self.ready and len(self.inflight) < concurrency and not self._closed:
            delivery = self.ready.popleft()
            task = asyncio.get_running_loop().create_task(self._run(delivery))
            self.inflight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        # Its slot is free only now: a `_pump` from inside `_run` still counts the task,
        # and when every attempt ends in one loop turn none of them would start more.
        self.inflight.discard(task)
        if not self._closed:
            self._pump()

    async def _run(self, delivery: Delivery) -> None:
        queue = self.dispatcher.queue
        # This task's own context copy: its log lines name the request that brought the event.
        for name, value in delivery.headers:
            if name == "x-request-id":
                request_id_var.set(value)
            elif name == "traceparent":
                traceparent_var.set(value)
        try:
            finished = await self.dispatcher.attempt(self.trigger, delivery)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug must not lose the event: try again after a pause.
            logger.exception("delivery attempt crashed", extra={"trigger": self.trigger.key})
            delivery.next_attempt_at = time.time() + 1.0
            finished = False
        # Recorded even while stopping: the queue closes after the lanes.
        if finished:
            self.held -= 1
            self.held_bytes -= footprint(delivery)
            queue.complete(delivery)
            metrics.QUEUE_DEPTH.labels(self.trigger.key).dec()
        else:
            queue.reschedule(delivery)
        if self._closed:
            return
        if finished:
            self._maybe_refill()
        else:
            self._schedule(delivery)
        self._pump()

    def _maybe_refill(self) -> None:
        if (
            self.spilled
            and not self._closed
            and self._refill is None
            and self.held <= self.limit // 2
            and self.held_bytes <= self.budget // 2
        ):
            self._refill = asyncio.get_running_loop().create_task(self._read_back())

    async def _read_back(self) -> None:
        try:
            while self.spilled and not self._closed:
                room = self.limit - self.held
                room_bytes = self.budget - self.held_bytes
                if room <= 0 or (self.held > 0 and room_bytes <= 0):
                    return
                wanted = min(room, self.dispatcher.settings.refill_batch)
                rows = await self.dispatcher.queue.load(
                    self.trigger.key, self.cursor, wanted, max_bytes=max(room_bytes, 1)
                )
                if self._closed:
                    return
                for delivery in rows:
                    self.cursor = max(self.cursor, delivery.id)
                    self._admit(delivery)
                self._pump()
                if not rows and self.max_handed <= self.cursor:
                    self.spilled = False  # the file holds nothing newer than memory
        except Exception:
            logger.exception("reading deliveries back failed", extra={"trigger": self.trigger.key})
        finally:
            self._refill = None

    async def stop(self, grace: float) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._refill is not None:
            self._refill.cancel()
        tasks = list(self.inflight)
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def snapshot(self) -> Mapping[str, int]:
        return {
            "ready": len(self.ready),
            "waiting_retry": len(self.delayed),
            "in_flight": len(self.inflight),
        }
