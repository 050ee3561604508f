"""The transactional outbox: building events, writing their rows inside the
caller's transaction, and the queue operations the relay uses.

An event is complete when its row is written: its `id` (a UUID4), `time`,
`source`, `dataschema` and tracing context never change afterwards, so every
retry sends the very same event. Only `K_CE_OVERRIDES` is applied at send time,
because a SinkBinding may change it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.events import AttributeValue, CloudEvent, new_event
from common.logs import request_id_var, traceparent_var
from user.schemas import schema_url
from user.tables import DELIVERED, FAILED, PENDING, outbox


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event ready to be written to the outbox with the change it reports."""

    event: CloudEvent

    @property
    def id(self) -> str:
        return self.event.id


class EventFactory:
    """Builds this service's events: type, source, subject, dataschema, and the
    request's id and trace context taken from the current request."""

    def __init__(self, source: str, base_url: str) -> None:
        self.source = source
        self.base_url = base_url

    def build(
        self, event_type: str, user_id: str, data: dict[str, Any], now: datetime
    ) -> OutboxEvent:
        event = new_event(
            type=event_type,
            source=self.source,
            data=orjson.dumps(data),
            datacontenttype="application/json",
            id=str(uuid.uuid4()),
            time=now,
            subject=user_id,
            dataschema=schema_url(self.base_url, event_type),
            requestid=request_id_var.get(),
            traceparent=traceparent_var.get(),
        )
        return OutboxEvent(event)


def outbox_values(item: OutboxEvent, now: datetime) -> dict[str, Any]:
    """The outbox row of an event, as column values."""
    event = item.event
    return {
        "event_id": event.id,
        "event_type": event.type,
        "subject": event.subject or "",
        "attributes": orjson.dumps(dict(event.attributes)).decode(),
        "data": event.data or b"",
        "created_at": now,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
    }


async def insert_outbox_row(connection: AsyncConnection, item: OutboxEvent, now: datetime) -> None:
    """Write the event's row in the caller's transaction."""
    await connection.execute(outbox.insert(), outbox_values(item, now))


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """A pending row this relay holds a lease on until `claimed_until`."""

    seq: int
    event: CloudEvent
    attempts: int
    created_at: datetime
    claimed_until: datetime


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    oldest_pending: datetime | None
    failed: int


def _status_is(status: str) -> sa.ColumnElement[bool]:
    # A literal, not a bound parameter: only then can the planner use the partial
    # indexes (`WHERE status = 'pending'`), on PostgreSQL and SQLite alike.
    assert status in (PENDING, DELIVERED, FAILED)
    return outbox.c.status == sa.literal_column(f"'{status}'")


# Larger than any seq: "no row is backing off".
_NO_SEQ = 2**62


def _retried() -> sa.ColumnElement[bool]:
    # Literal for the same reason: matches the partial index ix_outbox_retrying.
    return outbox.c.attempts > sa.literal_column("0")


def _event(attributes: str, data: bytes) -> CloudEvent:
    decoded: dict[str, AttributeValue] = orjson.loads(attributes)
    return CloudEvent(decoded, bytes(data))


class OutboxQueue:
    """The relay's view of the outbox table. Claims are leases: a row is claimed
    by one relay until `claimed_until`; on PostgreSQL concurrent claimers skip
    each other's locked rows (`FOR UPDATE SKIP LOCKED`), on SQLite the database
    lock serialises claims."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(
        self, relay_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedEvent]:
        """Lease up to `limit` due rows, oldest first, none after a row in backoff."""
        until = now + lease
        # A row backing off after a failure holds back every later row, so that
        # events leave in creation order even across restarts.
        backing_off = (
            sa.select(sa.func.min(outbox.c.seq))
            .where(_status_is(PENDING), _retried(), outbox.c.next_attempt_at > now)
            .scalar_subquery()
        )
        due = (
            sa.select(outbox.c.seq)
            .where(
                _status_is(PENDING),
                outbox.c.next_attempt_at <= now,
                sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
                outbox.c.seq < sa.func.coalesce(backing_off, _NO_SEQ),
            )
            .order_by(outbox.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            outbox.update()
            .where(outbox.c.seq.in_(due.scalar_subquery()))
            .values(claimed_by=relay_id, claimed_until=until)
            .returning(
                outbox.c.seq,
                outbox.c.attributes,
                outbox.c.data,
                outbox.c.attempts,
                outbox.c.created_at,
            )
        )
        async with self.engine.begin() as connection:
            rows = (await connection.execute(statement)).all()
        claimed = [
            ClaimedEvent(
                row.seq, _event(row.attributes, row.data), row.attempts, row.created_at, until
            )
            for row in rows
        ]
        # RETURNING has no order; delivery order is creation order.
        return sorted(claimed, key=lambda item: item.seq)

    async def mark_delivered(self, answers: Sequence[tuple[int, int]], now: datetime) -> None:
        """Mark rows delivered, given (seq, HTTP status) pairs, in one transaction."""
        by_status: dict[int, list[int]] = {}
        for seq, status in answers:
            by_status.setdefault(status, []).append(seq)
        if not by_status:
            return
        async with self.engine.begin() as connection:
            for status, seqs in by_status.items():
                await connection.execute(
                    outbox.update()
                    .where(outbox.c.seq.in_(seqs), _status_is(PENDING))
                    .values(
                        status=DELIVERED,
                        delivered_at=now,
                        last_status=status,
                        last_error=None,
                        attempts=outbox.c.attempts + 1,
                        claimed_by=None,
                        claimed_until=None,
                    )
                )

    async def park(self, seq: int, status: int | None, error: str) -> None:
        """Give up on a row: it stays in the table as `failed` for an operator."""
        await self._finish(
            seq,
            status=FAILED,
            last_status=status,
            last_error=error[:1000],
            attempts=outbox.c.attempts + 1,
        )

    async def reschedule(
        self, seq: int, next_attempt_at: datetime, status: int | None, error: str
    ) -> None:
        """A retriable failure: try again at `next_attempt_at` (by any relay)."""
        await self._finish(
            seq,
            next_attempt_at=next_attempt_at,
            last_status=status,
            last_error=error[:1000],
            attempts=outbox.c.attempts + 1,
        )

    async def release(self, seqs: Sequence[int], relay_id: str) -> None:
        """Give back leases this relay will not use (e.g. at shutdown)."""
        if not seqs:
            return
        async with self.engine.begin() as connection:
            await connection.execute(
                outbox.update()
                .where(
                    outbox.c.seq.in_(list(seqs)),
                    _status_is(PENDING),
                    outbox.c.claimed_by == relay_id,
                )
                .values(claimed_by=None, claimed_until=None)
            )

    async def _finish(self, seq: int, **values: Any) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                outbox.update()
                .where(outbox.c.seq == seq, _status_is(PENDING))
                .values(claimed_by=None, claimed_until=None, **values)
            )

    async def prune(self, delivered_before: datetime, chunk: int = 1000) -> int:
        """Delete delivered rows older than the retention; returns how many."""
        old = (
            sa.select(outbox.c.seq)
            .where(_status_is(DELIVERED), outbox.c.delivered_at < delivered_before)
            .limit(chunk)
        )
        total = 0
        while True:
            async with self.engine.begin() as connection:
                result = await connection.execute(
                    outbox.delete().where(outbox.c.seq.in_(old.scalar_subquery()))
                )
            total += result.rowcount
            if result.rowcount < chunk:
                return total

    async def stats(self) -> OutboxStats:
        """Pending count, oldest pending creation time, failed count (index-only work)."""
        async with self.engine.connect() as connection:
            pending = (
                await connection.execute(
                    sa.select(sa.func.count()).select_from(outbox).where(_status_is(PENDING))
                )
            ).scalar_one()
            oldest = (
                await connection.execute(
                    sa.select(outbox.c.created_at)
                    .where(_status_is(PENDING))
                    .order_by(outbox.c.seq)
                    .limit(1)
                )
            ).scalar_one_or_none()
            failed = (
                await connection.execute(
                    sa.select(sa.func.count()).select_from(outbox).where(_status_is(FAILED))
                )
            ).scalar_one()
        return OutboxStats(int(pending), oldest, int(failed))
