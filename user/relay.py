"""The outbox relay: claims pending events, sends each to K_SINK, then marks it
delivered, reschedules it (retriable failure) or parks it (non-retriable).

Delivery is at least once: a crash between a send and its mark repeats that
send after restart (same event `id`, so an idempotent sink keeps one). Within
one relay, events go out one at a time in creation order; a retriable failure
stops the batch and the relay backs off, so later events never overtake it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal, Protocol

import httpx
from prometheus_client import Counter, Gauge, Histogram

from common.events import (
    AttributeValue,
    CloudEvent,
    apply_overrides,
    encode_binary,
    encode_structured,
)
from user.outbox import ClaimedEvent, OutboxQueue
from user.sink_token import TokenFile, TokenUnavailable

logger = logging.getLogger(__name__)

SENDS = Counter("user_outbox_sends", "Event sends to K_SINK by outcome.", ["outcome"])
SEND_SECONDS = Histogram(
    "user_outbox_send_duration_seconds",
    "Time from sending an event to K_SINK until its answer (or failure).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PENDING = Gauge("user_outbox_pending", "Events in the outbox not yet delivered.")
FAILED = Gauge(
    "user_outbox_failed", "Events parked after a non-retriable answer; an operator must act."
)
OLDEST_AGE = Gauge(
    "user_outbox_oldest_pending_age_seconds",
    "Age of the oldest undelivered event (0 when none).",
)
PRUNED = Counter("user_outbox_pruned", "Delivered outbox rows deleted after the retention.")

# Longest Retry-After we wait for; a larger value is a misconfigured sink.
RETRY_AFTER_CAP = 3600.0
# Response text kept for logs and the row's last_error.
DETAIL_BYTES = 512
STATS_INTERVAL = 1.0


class _OldestPending:
    """Feeds OLDEST_AGE at scrape time, so the age grows between refreshes."""

    def __init__(self) -> None:
        self.created_at: datetime | None = None

    def age(self) -> float:
        if self.created_at is None:
            return 0.0
        return max(0.0, (datetime.now(UTC) - self.created_at).total_seconds())


_OLDEST = _OldestPending()
OLDEST_AGE.set_function(_OLDEST.age)


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retried"
    PARK = "parked"


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    status: int | None
    detail: str
    retry_after: float | None = None


def classify(status: int) -> Outcome:
    """Checklist items 89-94: 2xx delivered; 408, 429 and 5xx retried; any other
    status, 3xx included (a sink must not redirect), parks the event."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in (408, 429) or 500 <= status < 600:
        return Outcome.RETRY
    return Outcome.PARK


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, float((moment - now).total_seconds()))


def backoff_delay(attempts: int, base: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so that
    replicas retrying at once spread out but never retry immediately."""
    ceiling = min(maximum, base * 2.0 ** min(max(attempts - 1, 0), 30))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Sender(Protocol):
    """Delivers one event and says how it went (EventSender; fakes in tests)."""

    async def send(self, event: CloudEvent) -> SendResult: ...


class EventSender:
    """POSTs one event per request to the sink, in binary or structured mode."""

    def __init__(
        self,
        sink: str,
        mode: Literal["binary", "structured"],
        overrides: dict[str, AttributeValue],
        client: httpx.AsyncClient,
        user_agent: str,
        token: TokenFile | None = None,
    ) -> None:
        self.sink = sink
        self.mode = mode
        self.overrides = overrides
        self.client = client
        self.user_agent = user_agent
        self.token = token

    def request_parts(self, event: CloudEvent) -> tuple[list[tuple[str, str]], bytes]:
        """Headers and body for `event` with K_CE_OVERRIDES applied."""
        event = apply_overrides(event, self.overrides)
        headers, body = encode_binary(event) if self.mode == "binary" else encode_structured(event)
        traceparent = event.attributes.get("traceparent")
        if isinstance(traceparent, str):
            # Item 82: one hop, so the HTTP header carries the same trace as the extension.
            headers.append(("traceparent", traceparent))
        headers.append(("user-agent", self.user_agent))
        return headers, body

    async def send(self, event: CloudEvent) -> SendResult:
        headers, body = self.request_parts(event)
        if self.token is not None:
            try:
                headers.append(("authorization", f"Bearer {self.token.read()}"))
            except TokenUnavailable as exc:
                return SendResult(Outcome.RETRY, None, str(exc))
        try:
            async with self.client.stream(
                "POST", self.sink, content=body, headers=headers
            ) as response:
                detail = await _read_detail(response)
        except httpx.TimeoutException as exc:
            return SendResult(Outcome.RETRY, None, f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return SendResult(
                Outcome.RETRY, None, f"connection error ({type(exc).__name__}: {exc})"
            )
        status = response.status_code
        outcome = classify(status)
        if status == 401 and self.token is not None:
            # A token that expired in flight: the next send reads the rotated one.
            outcome = Outcome.RETRY
        retry_after = None
        if outcome is Outcome.RETRY:
            retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        text = f"HTTP {status}" + (
            f": {detail}" if detail and outcome is not Outcome.DELIVERED else ""
        )
        return SendResult(outcome, status, text, retry_after)


async def _read_detail(response: httpx.Response) -> str:
    """The start of the response body, decoded leniently, for diagnostics only."""
    collected = b""
    async for chunk in response.aiter_bytes():
        collected += chunk
        if len(collected) >= DETAIL_BYTES:
            break
    return collected[:DETAIL_BYTES].decode("utf-8", "replace").strip()


@dataclass(frozen=True, slots=True)
class RelayTiming:
    batch_size: int = 32
    poll_interval: float = 1.0
    backoff_base: float = 0.5
    backoff_max: float = 60.0
    send_timeout: float = 10.0
    lease: float = 60.0
    max_attempts: int = 0
    # 1: strictly in creation order. More: that many sends at once, in creation
    # order per subject (per user) only.
    concurrency: int = 1
    retention: float = 24 * 3600.0
    prune_interval: float = 60.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxRelay:
    """One relay per process. Without a sender (no K_SINK) it only keeps the
    outbox metrics fresh and prunes; events wait until a sink is configured."""

    def __init__(
        self,
        queue: OutboxQueue,
        sender: Sender | None,
        relay_id: str,
        timing: RelayTiming,
        *,
        clock: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.queue = queue
        self.sender = sender
        self.relay_id = relay_id
        self.timing = timing
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._more_due = False
        self._stats_at = 0.0
        self._pruned_at = 0.0
        self._store_failures = 0

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    def wake(self) -> None:
        """A change committed: deliver now instead of at the next poll."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Finish the send in progress, give back unused claims, and return."""
        self._stop.set()
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.timing.send_timeout + 5)
        except TimeoutError:
            self._task.cancel()
            logger.warning("relay did not stop in time; cancelled")

    # -- the loop ----------------------------------------------------------

    async def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            delay: float | None = None
            try:
                if self.sender is not None:
                    delay = await self.deliver_due()
                await self.maintain()
                self._store_failures = 0
            except Exception as exc:  # the database may be away; the relay must outlive it
                self._store_failures += 1
                delay = backoff_delay(
                    self._store_failures,
                    self.timing.backoff_base,
                    self.timing.backoff_max,
                    self._rng,
                )
                logger.warning(
                    "relay cycle failed; retrying",
                    extra={"error": f"{type(exc).__name__}: {exc}", "retry_in": round(delay, 3)},
                )
            if self._stop.is_set():
                break
            if delay is not None:
                await self._pause(delay)
            elif not self._more_due and not self._wake.is_set():
                await self._idle(self.timing.poll_interval)

    async def _pause(self, seconds: float) -> None:
        """Back off: only stopping cuts this short, new events do not."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def deliver_due(self) -> float | None:
        """Claim and send one batch; returns a backoff delay after a retriable failure.

        Deliveries are marked together at the end of the batch (one transaction
        instead of one per event); a crash before that resends at most one batch.
        Claimed rows not attempted (stopping, lease running out, a failure) are
        handed back.
        """
        timing = self.timing
        batch = await self.queue.claim(
            self.relay_id, timing.batch_size, self._clock(), timedelta(seconds=timing.lease)
        )
        self._more_due = len(batch) == timing.batch_size
        delivered: list[tuple[int, int]] = []
        attempted: set[int] = set()
        try:
            if timing.concurrency == 1:
                return await self._send_in_order(batch, attempted, delivered)
            return await self._send_per_subject(batch, attempted, delivered)
        finally:
            await self.queue.mark_delivered(delivered, self._clock())
            unsent = [item.seq for item in batch if item.seq not in attempted]
            if unsent:
                self._more_due = True
                await self.queue.release(unsent, self.relay_id)

    async def _send_in_order(
        self, batch: list[ClaimedEvent], attempted: set[int], delivered: list[tuple[int, int]]
    ) -> float | None:
        """One at a time in creation order; a retriable failure ends the batch."""
        for item in batch:
            if not self._may_start(item):
                return None
            attempted.add(item.seq)
            delay = await self._attempt(item, delivered)
            if delay is not None:
                return delay
        return None

    async def _send_per_subject(
        self, batch: list[ClaimedEvent], attempted: set[int], delivered: list[tuple[int, int]]
    ) -> float | None:
        """Up to `concurrency` sends at once; one subject's events one at a time, in
        creation order. After a retriable failure no new send starts."""
        chains: dict[str, list[ClaimedEvent]] = {}
        for item in batch:
            chains.setdefault(item.event.subject or str(item.seq), []).append(item)
        delays: list[float] = []
        halt = asyncio.Event()
        slots = asyncio.Semaphore(self.timing.concurrency)

        async def run(chain: list[ClaimedEvent]) -> None:
            async with slots:
                for item in chain:
                    if halt.is_set() or not self._may_start(item):
                        return
                    attempted.add(item.seq)
                    delay = await self._attempt(item, delivered, on_retry=halt.set)
                    if delay is not None:
                        delays.append(delay)
                        return

        async with asyncio.TaskGroup() as group:
            for chain in chains.values():
                group.create_task(run(chain))
        return max(delays) if delays else None

    def _may_start(self, item: ClaimedEvent) -> bool:
        # Never start a send that could outlive our claim, nor one while stopping.
        margin = (item.claimed_until - self._clock()).total_seconds()
        return not self._stop.is_set() and margin >= self.timing.send_timeout + 1

    async def _attempt(
        self,
        item: ClaimedEvent,
        delivered: list[tuple[int, int]],
        on_retry: Callable[[], None] | None = None,
    ) -> float | None:
        """Send one event; note a delivery, or park/reschedule it (returns the backoff).
        `on_retry` runs as soon as the answer says "retry", before any bookkeeping."""
        started = time.perf_counter()
        result = await self.sender_or_fail().send(item.event)
        SEND_SECONDS.observe(time.perf_counter() - started)
        if result.outcome is Outcome.RETRY and on_retry is not None:
            on_retry()
        if result.outcome is Outcome.DELIVERED:
            SENDS.labels(Outcome.DELIVERED.value).inc()
            delivered.append((item.seq, result.status or 0))
            return None
        return await self._failed(item, result)

    def sender_or_fail(self) -> Sender:
        assert self.sender is not None, "no K_SINK: nothing to send to"
        return self.sender

    async def _failed(self, item: ClaimedEvent, result: SendResult) -> float | None:
        """Park or reschedule a failed send; returns the backoff for a retriable one."""
        log = {"event_id": item.event.id, "event_type": item.event.type, "status": result.status}
        attempts = item.attempts + 1
        if result.outcome is Outcome.PARK or (
            self.timing.max_attempts and attempts >= self.timing.max_attempts
        ):
            reason = result.detail
            if result.outcome is Outcome.RETRY:
                reason = f"gave up after {attempts} attempts; last: {result.detail}"
            SENDS.labels(Outcome.PARK.value).inc()
            await self.queue.park(item.seq, result.status, reason)
            logger.error(
                "event parked: the sink refused it; it stays in the outbox as failed",
                extra={**log, "detail": reason, "attempts": attempts},
            )
            return None if result.outcome is Outcome.PARK else self._backoff(attempts, None)
        SENDS.labels(Outcome.RETRY.value).inc()
        delay = self._backoff(attempts, result.retry_after)
        await self.queue.reschedule(
            item.seq, self._clock() + timedelta(seconds=delay), result.status, result.detail
        )
        logger.warning(
            "event send failed; will retry",
            extra={
                **log,
                "detail": result.detail,
                "attempts": attempts,
                "retry_in": round(delay, 3),
            },
        )
        return delay

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        delay = backoff_delay(
            attempts, self.timing.backoff_base, self.timing.backoff_max, self._rng
        )
        if retry_after is not None:
            # Item 89: the sender MUST honour Retry-After.
            delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
        return delay

    async def maintain(self, *, force: bool = False) -> None:
        """Refresh the outbox gauges (at most once a second) and prune delivered rows."""
        now = time.monotonic()
        if force or now - self._stats_at >= STATS_INTERVAL:
            self._stats_at = now
            stats = await self.queue.stats()
            PENDING.set(stats.pending)
            FAILED.set(stats.failed)
            _OLDEST.created_at = stats.oldest_pending
        if now - self._pruned_at >= self.timing.prune_interval:
            self._pruned_at = now
            cutoff = self._clock() - timedelta(seconds=self.timing.retention)
            pruned = await self.queue.prune(cutoff)
            if pruned:
                PRUNED.inc(pruned)
                logger.info("pruned delivered events", extra={"count": pruned})
