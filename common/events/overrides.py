"""`K_CE_OVERRIDES`: extensions a SinkBinding asks every sent event to carry."""

from __future__ import annotations

import json

from common.events.attributes import check_attributes, check_name
from common.events.model import AttributeValue, CloudEvent


def parse_ce_overrides(text: str | None) -> dict[str, AttributeValue]:
    """Parse `{"extensions": {...}}` (empty or unset means none); raise ValueError."""
    if not text or not text.strip():
        return {}
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("K_CE_OVERRIDES must be a JSON object")
    extensions = document.get("extensions") or {}
    if not isinstance(extensions, dict):
        raise ValueError("K_CE_OVERRIDES.extensions must be an object")
    result: dict[str, AttributeValue] = {}
    for name, value in extensions.items():
        check_name(name)
        if not isinstance(value, str | int | bool):
            raise ValueError(f"K_CE_OVERRIDES extension {name} must be a string, int or bool")
        result[name] = value
    # Reuse the event validator for the value rules (int32, string characters).
    check_attributes({"specversion": "1.0", "id": "x", "source": "x", "type": "x", **result})
    return result


def apply_overrides(event: CloudEvent, overrides: dict[str, AttributeValue]) -> CloudEvent:
    """The event with the override extensions set (they win over the event's own)."""
    if not overrides:
        return event
    return CloudEvent({**event.attributes, **overrides}, event.data)
