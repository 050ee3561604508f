"""Event data schemas: one per published type, each addressable by its URL."""

from __future__ import annotations

from user.schemas import EVENT_TYPES, schema_for, schema_url


def test_each_event_type_has_a_schema_at_its_url() -> None:
    for event_type in EVENT_TYPES:
        schema = schema_for("https://users.example.com", event_type)
        assert schema is not None
        assert schema["$id"] == schema_url("https://users.example.com", event_type)
        assert schema["$id"] == f"https://users.example.com/v1/schemas/{event_type}.json"
        assert schema["required"][0] == "id"
        assert "password" not in schema["properties"]


def test_unknown_types_have_none() -> None:
    assert schema_for("http://x", "user.nothing") is None
