"""The event types this service publishes and the JSON Schema of each one's data.

`dataschema` in every event points at `<PUBLIC_BASE_URL>/v1/schemas/<type>.json`,
which this service serves from `schema_for`.
"""

from __future__ import annotations

from typing import Any, Final

STORE_USER: Final = "user.storeUser"
UPDATE_USER: Final = "user.updateUser"
DELETE_USER: Final = "user.deleteUser"
EVENT_TYPES: Final = (STORE_USER, UPDATE_USER, DELETE_USER)

CHANGEABLE_FIELDS: Final = ("name", "password")

_JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_USER_ID = {
    "type": "string",
    "format": "uuid",
    "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    "description": "The user's id (also the event's subject).",
}

_DATA: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    STORE_USER: ("A user was created.", {"id": _USER_ID}, ["id"]),
    UPDATE_USER: (
        "A user's name and/or password was changed. Only the names of the changed "
        "fields travel, never their values.",
        {
            "id": _USER_ID,
            "changed": {
                "type": "array",
                "items": {"enum": list(CHANGEABLE_FIELDS)},
                "minItems": 1,
                "uniqueItems": True,
            },
        },
        ["id", "changed"],
    ),
    DELETE_USER: ("A user was deleted.", {"id": _USER_ID}, ["id"]),
}


def schema_url(base_url: str, event_type: str) -> str:
    """The absolute URL of an event type's data schema (the `dataschema` attribute)."""
    return f"{base_url}/v1/schemas/{event_type}.json"


def schema_for(base_url: str, event_type: str) -> dict[str, Any] | None:
    """The JSON Schema (draft 2020-12) of `event_type`'s data, or None if unknown.

    Consumers must ignore members they do not know: new optional members may be
    added without a new event type.
    """
    entry = _DATA.get(event_type)
    if entry is None:
        return None
    description, properties, required = entry
    return {
        "$schema": _JSON_SCHEMA_DIALECT,
        "$id": schema_url(base_url, event_type),
        "title": f"{event_type} data",
        "description": description,
        "type": "object",
        "properties": properties,
        "required": required,
    }
