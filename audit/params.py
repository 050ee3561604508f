"""Query parameters of the read API, validated into domain values (400 otherwise)."""

from __future__ import annotations

from datetime import datetime

from starlette.datastructures import QueryParams

from audit.queries import EventFilter, InvalidCursor, Order, decode_cursor
from common.events import InvalidEvent
from common.events.attributes import check_string, check_time
from common.web.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_SEQ = 2**63 - 1


def _bad(parameter: str, detail: str) -> ApiError:
    return ApiError(400, "invalid_parameter", detail, parameter=parameter)


def _values(params: QueryParams, name: str) -> tuple[str, ...]:
    # `?type=a&type=b` means "a or b" (no comma splitting: a source may hold commas).
    values = tuple(value for value in params.getlist(name) if value)
    for value in values:
        if not is_attribute_string(value):
            raise _bad(name, f"{name} holds a character no CloudEvents attribute can hold")
    return values


def is_attribute_string(value: str) -> bool:
    """Whether a stored attribute could equal `value` (no control characters and
    the like; PostgreSQL text cannot even hold U+0000)."""
    try:
        check_string("value", value)
    except InvalidEvent:
        return False
    return True


def _moment(params: QueryParams, name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        check_time(value)  # strict RFC 3339, as for the events' own `time`
        return datetime.fromisoformat(value.upper())
    except (InvalidEvent, ValueError):
        raise _bad(
            name, f"{name} must be an RFC 3339 timestamp, e.g. 2026-11-27T10:00:00Z"
        ) from None


def event_filter(params: QueryParams) -> EventFilter:
    """`type`, `source`, `subject`, `id` (each repeatable), `since`
    (inclusive) and `until` (exclusive) on receive time, `q` (bytes in the data)."""
    return EventFilter(
        types=_values(params, "type"),
        sources=_values(params, "source"),
        subjects=_values(params, "subject"),
        ids=_values(params, "id"),
        since=_moment(params, "since"),
        until=_moment(params, "until"),
        text=params.get("q") or None,
    )


def limit(params: QueryParams) -> int:
    """`limit`: 1..1000, default 50."""
    value = params.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    if not _is_number(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise _bad("limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(value)


def order(params: QueryParams, default: Order = "desc") -> Order:
    """`order`: `desc` (newest first, the default for lists) or `asc`."""
    value = params.get("order", default)
    if value == "desc":
        return "desc"
    if value == "asc":
        return "asc"
    raise _bad("order", "order must be asc or desc")


def sequence(value: str | None, name: str) -> int | None:
    """A non-negative seq (`Last-Event-ID`, `after`), or None when absent."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if not _is_number(value) or int(value) > MAX_SEQ:
        raise _bad(name, f"{name} must be a non-negative integer seq")
    return int(value)


def _is_number(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 19


def cursor(params: QueryParams, order: Order) -> int | None:
    """The seq the `cursor` parameter continues after (None for the first page)."""
    value = params.get("cursor")
    if not value:
        return None
    try:
        return decode_cursor(value, order)
    except InvalidCursor as exc:
        raise _bad("cursor", str(exc)) from exc
