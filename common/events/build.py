"""Building an event to send: fresh `id` and `time`, checked as a sender must."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from common.events.attributes import check_sender_names, validate_for_send
from common.events.model import AttributeValue, CloudEvent, format_time


def new_event(
    *,
    type: str,
    source: str,
    data: bytes | None = None,
    datacontenttype: str | None = "application/json",
    id: str | None = None,
    time: datetime | str | None = None,
    **optional: AttributeValue | None,
) -> CloudEvent:
    """Build a valid event for sending: a fresh UUID `id` and the current `time`
    unless given (`time` as a datetime or an RFC 3339 string, item 10).

    Raises ValueError when the result would not be a valid CloudEvent, or when an
    extension name breaks the sender naming policy (items 6, 7: at most 20
    characters, starting with a letter)."""
    if isinstance(time, str):
        moment = time
    else:
        moment = format_time(time if time is not None else datetime.now(UTC))
    attributes: dict[str, AttributeValue] = {
        "specversion": "1.0",
        "id": id if id is not None else str(uuid.uuid4()),
        "source": source,
        "type": type,
        "time": moment,
    }
    if data is not None and datacontenttype is not None:
        attributes["datacontenttype"] = datacontenttype
    attributes.update({k: v for k, v in optional.items() if v is not None})
    event = CloudEvent(attributes, data)
    validate_for_send(event)
    check_sender_names(attributes)
    return event
