"""The in-memory event: validated context attributes plus the data as bytes.

Data is kept as the encoded byte sequence (item 43), so any event converts to
binary mode without loss and a sink can store exactly what it received.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

AttributeValue = str | int | bool

REQUIRED = ("specversion", "id", "source", "type")
CORE_OPTIONAL = ("datacontenttype", "dataschema", "subject", "time")
CORE = frozenset(REQUIRED + CORE_OPTIONAL)


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """A CloudEvents 1.0 event. `attributes` holds every context attribute
    (core and extensions, never `data`); `data` is None when the event has none."""

    attributes: Mapping[str, AttributeValue]
    data: bytes | None = None

    @property
    def id(self) -> str:
        return str(self.attributes["id"])

    @property
    def source(self) -> str:
        return str(self.attributes["source"])

    @property
    def type(self) -> str:
        return str(self.attributes["type"])

    @property
    def subject(self) -> str | None:
        value = self.attributes.get("subject")
        return None if value is None else str(value)

    @property
    def datacontenttype(self) -> str | None:
        value = self.attributes.get("datacontenttype")
        return None if value is None else str(value)

    @property
    def extensions(self) -> dict[str, AttributeValue]:
        return {k: v for k, v in self.attributes.items() if k not in CORE}

    def with_attributes(self, **changes: AttributeValue | None) -> CloudEvent:
        """A copy with attributes set (or removed, for None). Data is kept."""
        attributes = dict(self.attributes)
        for name, value in changes.items():
            if value is None:
                attributes.pop(name, None)
            else:
                attributes[name] = value
        return CloudEvent(attributes, self.data)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z` offset and microseconds (canonical form, item 10).

    `isoformat` pads the year to four digits; `strftime("%Y")` does not on glibc
    (year 999 would give `999-...`, which is not RFC 3339)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: a CloudEvents time needs an offset")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"
