"""Audit refuses user events whose data breaks the user service's contract."""

from __future__ import annotations

import pytest

from audit.event_data import InvalidEventData, check_event_data
from common.events import CloudEvent


def _event(
    type_: str, data: bytes | None, content_type: str | None = "application/json"
) -> CloudEvent:
    attributes: dict[str, str | int | bool] = {
        "specversion": "1.0",
        "id": "1",
        "source": "/s",
        "type": type_,
    }
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return CloudEvent(attributes, data)


@pytest.mark.parametrize(
    "data",
    [b'{"id": "42"}', b'{"id": "42", "changed": ["name"]}'],
)
def test_user_events_with_a_string_id_pass(data: bytes) -> None:
    check_event_data(_event("user.updateUser", data))


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"id": 42}', "application/json"),
        (b'["not", "an", "object"]', "application/json"),
        (b'{"id": ""}', "application/json"),
        (b"{}", "application/json"),
        (b"not json", "application/json"),
        (b'{"id": "42"}', "text/plain"),
        (None, None),
    ],
)
def test_user_events_breaking_the_contract_are_400(
    data: bytes | None, content_type: str | None
) -> None:
    with pytest.raises(InvalidEventData) as raised:
        check_event_data(_event("user.storeUser", data, content_type))
    assert raised.value.status == 400
    assert raised.value.to_json()["error"] == "invalid_event_data"


def test_other_types_are_not_audits_business() -> None:
    check_event_data(_event("com.example.other", b"[1, 2]"))
    check_event_data(_event("com.example.other", None, None))
