"""Request validation: what a body or parameter may hold, and the errors otherwise."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.web.errors import ApiError
from user.validation import (
    NAME_MAX,
    PASSWORD_MAX,
    canonical_user_id,
    encode_cursor,
    parse_cursor,
    parse_limit,
    parse_new_user,
    parse_user_changes,
)


def problems(error: ApiError) -> dict[str, str]:
    return {p["field"]: p["problem"] for p in error.extra["fields"]}


def test_a_valid_new_user() -> None:
    new = parse_new_user({"name": "John Doe", "password": "secret"}, 1)
    assert (new.name, new.password) == ("John Doe", "secret")


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({}, "name", "is required"),
        ({"name": "x"}, "password", "is required"),
        ({"name": "", "password": "p"}, "name", "must not be empty"),
        ({"name": "\t ", "password": "p"}, "name", "must not be empty"),
        ({"name": "x" * (NAME_MAX + 1), "password": "p"}, "name", "at most"),
        ({"name": "a\nb", "password": "p"}, "name", "control"),
        ({"name": "a\ud800", "password": "p"}, "name", "control"),
        ({"name": 1, "password": "p"}, "name", "must be a string"),
        ({"name": "x", "password": None}, "password", "must be a string"),
        ({"name": "x", "password": ""}, "password", "must not be empty"),
        ({"name": "x", "password": "p" * (PASSWORD_MAX + 1)}, "password", "at most"),
        ({"name": "x", "password": "\udc00"}, "password", "Unicode"),
        ({"name": "x", "password": "p", "role": "admin"}, "role", "not a known field"),
    ],
)
def test_invalid_new_users(body: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_new_user(body, 1)
    assert caught.value.status == 422
    assert problem in problems(caught.value)[field]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ApiError) as caught:
        parse_new_user({"name": "", "extra": 1}, 1)
    assert set(problems(caught.value)) == {"name", "password", "extra"}


def test_problems_never_echo_the_password() -> None:
    with pytest.raises(ApiError) as caught:
        parse_new_user({"name": "x", "password": "short-secret"}, 20)
    assert "short-secret" not in str(caught.value.extra) + caught.value.detail
    assert "at least 20" in problems(caught.value)["password"]


def test_body_must_be_an_object() -> None:
    for body in ([], "x", 1, None):
        with pytest.raises(ApiError) as caught:
            parse_new_user(body, 1)
        assert problems(caught.value) == {"(body)": "must be a JSON object"}


def test_unknown_field_names_are_echoed_bounded() -> None:
    body = {"name": "x", "password": "p", **{f"k{i}" + "z" * 500: 1 for i in range(50)}}
    with pytest.raises(ApiError) as caught:
        parse_new_user(body, 1)
    reported = problems(caught.value)
    assert len(reported) == 10
    assert all(len(field) <= 64 for field in reported)


def test_changes_name_the_fields_set() -> None:
    assert parse_user_changes({"name": "n"}, 1).changed == ["name"]
    assert parse_user_changes({"password": "p"}, 1).changed == ["password"]
    assert parse_user_changes({"password": "p", "name": "n"}, 1).changed == ["name", "password"]
    with pytest.raises(ApiError):
        parse_user_changes({}, 1)
    with pytest.raises(ApiError):
        parse_user_changes({"id": "x"}, 1)


def test_canonical_user_ids() -> None:
    lower = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert canonical_user_id(lower) == lower
    assert canonical_user_id(lower.upper()) == lower
    assert canonical_user_id("0f8fad5bd9cb469fa16570867728950e") is None
    assert canonical_user_id("{" + lower[:-2] + "}") is None
    assert canonical_user_id("") is None


def test_limits() -> None:
    assert parse_limit(None) == 50
    assert parse_limit("500") == 500
    for bad in ("0", "501", "-1", "1.5", "x", ""):
        with pytest.raises(ApiError) as caught:
            parse_limit(bad)
        assert caught.value.status == 400


@given(
    st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1)),
    st.uuids(version=4),
)
def test_cursors_round_trip(created_at: datetime, user_id: object) -> None:
    key = (created_at, str(user_id))
    assert parse_cursor(encode_cursor(key)) == key


@given(st.text(max_size=80) | st.binary(max_size=60).map(lambda b: encode_like_cursor(b)))
def test_arbitrary_cursors_are_400_or_valid(text: str) -> None:
    status = 200
    try:
        parse_cursor(text)
    except ApiError as error:
        status = error.status
    assert status in (200, 400)


def encode_like_cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
