"""The CloudEvents sink: `POST /` (events) and `POST /dead-letter` (the Knative
deadLetterSink). Each answers 202 with an empty body only after a commit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from starlette.requests import Request
from starlette.responses import Response

from audit import metrics
from audit.event_data import check_event_data
from audit.records import dead_letter_row, event_row
from audit.tables import dead_letters, events
from audit.writer import EventsRefused, GroupCommitWriter, StoreUnavailable
from common.events import CloudEvent, CloudEventError, parse_http
from common.web.body import read_body
from common.web.errors import ApiError

RowBuilder = Callable[[CloudEvent, str, datetime], dict[str, Any]]
EventCheck = Callable[[CloudEvent], None]
RETRY_AFTER_SECONDS = "1"


class Sink:
    """Translate HTTP to rows and rows to a 202; no storage logic lives here."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        *,
        max_body_bytes: int,
        max_batch_size: int,
    ) -> None:
        self._writer = writer
        self._max_body_bytes = max_body_bytes
        self._max_batch_size = max_batch_size

    async def receive(self, request: Request) -> Response:
        """`POST /`: store the events of a binary, structured or batch request."""
        mode, stored = await self._store(request, events, event_row, check_event_data)
        for (event_type, event_mode), count in Counter(
            (metrics.type_label(row["type"]), mode) for row in stored
        ).items():
            metrics.RECEIVED.labels(event_type, event_mode).inc(count)
        return Response(status_code=202)

    async def dead_letter(self, request: Request) -> Response:
        """`POST /dead-letter`: store events the broker gave up on, apart from the rest."""
        _, stored = await self._store(request, dead_letters, dead_letter_row)
        metrics.DEAD_LETTERS.inc(len(stored))
        return Response(status_code=202)

    async def _store(
        self, request: Request, table: Table, build: RowBuilder, check: EventCheck | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        try:
            body = await read_body(request, self._max_body_bytes)
            message = parse_http(request.scope["headers"], body, max_batch=self._max_batch_size)
            if check is not None:
                # A batch is refused whole, before anything in it is stored.
                for event in message.events:
                    check(event)
        except CloudEventError as exc:
            metrics.REJECTED.labels(exc.code).inc()
            raise
        except ApiError as exc:
            metrics.REJECTED.labels(exc.error).inc()
            raise
        mode = message.mode.value
        received_at = datetime.now(UTC)
        rows = [build(event, mode, received_at) for event in message.events]
        try:
            await self._writer.submit(table, rows)
        except StoreUnavailable as exc:
            metrics.REJECTED.labels("store_unavailable").inc()
            raise ApiError(
                503,
                "store_unavailable",
                f"the event store did not commit the events ({exc}); retry",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            ) from exc
        except EventsRefused as exc:
            metrics.REJECTED.labels("unstorable_event").inc()
            raise ApiError(
                400, "unstorable_event", f"the event store refuses a value of these events ({exc})"
            ) from exc
        return mode, rows
