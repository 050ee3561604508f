"""What audit knows about the data of the events it is built for.

A valid CloudEvent can still carry data that breaks its type's contract, e.g. a
`user.storeUser` whose `id` is not a string, or JSON data nested deeper than the
readers of the read API can parse. Audit refuses those with 400, so the
broker does not retry them and the Knative deadLetterSink keeps them for a person.
"""

from __future__ import annotations

import orjson

from audit.records import MAX_JSON_DEPTH, json_too_deep
from common.events import CloudEvent, InvalidEvent
from common.events.json_format import is_json_content_type

# The user service's events (docs/architecture.md): data is an object with a string id.
USER_EVENT_TYPES = frozenset({"user.storeUser", "user.updateUser", "user.deleteUser"})


class InvalidEventData(InvalidEvent):
    """The event is well-formed but its data breaks its type's contract (400)."""

    code = "invalid_event_data"


def check_event_data(event: CloudEvent) -> None:
    """Raise InvalidEventData when JSON data is nested deeper than the read API can
    hand to its readers, or when a known type's data breaks its contract."""
    if (
        event.data is not None
        and is_json_content_type(event.datacontenttype)
        and json_too_deep(event.data)
    ):
        raise InvalidEventData(f"JSON data is nested deeper than {MAX_JSON_DEPTH} levels", "data")
    if event.type not in USER_EVENT_TYPES:
        return
    if event.data is None or not is_json_content_type(event.datacontenttype):
        raise InvalidEventData(f"{event.type} needs JSON data with a string id", "data")
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEventData(f"{event.type} data is not valid JSON", "data") from exc
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise InvalidEventData(f"{event.type} data must be an object with a string id", "data")
