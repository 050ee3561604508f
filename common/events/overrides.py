"""`K_CE_OVERRIDES`: extensions a SinkBinding asks every sent event to carry."""

from __future__ import annotations

import json
from collections.abc import Mapping

from common.events.attributes import check_attributes, check_name
from common.events.errors import InvalidEvent
from common.events.model import CORE, AttributeValue, CloudEvent


def parse_ce_overrides(text: str | None) -> dict[str, AttributeValue]:
    """Parse `{"extensions": {...}}` (empty or unset means none).

    Raises ValueError for anything else, so a bad setting stops the service at
    start: not JSON, not an object, a name that is not `[a-z0-9]+` (items 5,
    26), a core attribute name (these are *extensions*; an override must not
    rewrite `id`, `type` or `source`), or a value that is not a String,
    Boolean or 32-bit Integer (items 8, 9)."""
    if not text or not text.strip():
        return {}
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("K_CE_OVERRIDES must be a JSON object")
    extensions = document.get("extensions")
    if extensions is None:
        return {}
    if not isinstance(extensions, dict):
        raise ValueError("K_CE_OVERRIDES.extensions must be an object")
    result: dict[str, AttributeValue] = {}
    try:
        for name, value in extensions.items():
            check_name(name)
            if name in CORE:
                raise ValueError(f"K_CE_OVERRIDES may not override core attribute {name}")
            if not isinstance(value, str | int | bool):
                raise ValueError(f"K_CE_OVERRIDES extension {name} must be a string, int or bool")
            result[name] = value
        # Reuse the event validator for the value rules (int32, string characters).
        check_attributes({"specversion": "1.0", "id": "x", "source": "x", "type": "x", **result})
    except InvalidEvent as exc:
        raise ValueError(f"K_CE_OVERRIDES: {exc.detail}") from exc
    return result


def apply_overrides(event: CloudEvent, overrides: Mapping[str, AttributeValue]) -> CloudEvent:
    """The event with the override extensions set (they win over the event's own)."""
    if not overrides:
        return event
    return CloudEvent({**event.attributes, **overrides}, event.data)
