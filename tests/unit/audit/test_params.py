"""Query parameters of the read API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.datastructures import QueryParams

from audit import params
from common.web.errors import ApiError


def test_defaults() -> None:
    query = QueryParams("")

    assert params.limit(query) == 50
    assert params.order(query) == "desc"
    assert params.order(query, default="asc") == "asc"
    assert params.cursor(query, "desc") is None
    assert params.event_filter(query) == params.EventFilter()


def test_repeated_values_are_alternatives_and_commas_are_kept() -> None:
    where = params.event_filter(QueryParams("type=a&type=b&source=urn:x,y&subject="))

    assert where.types == ("a", "b")
    assert where.sources == ("urn:x,y",)
    assert where.subjects == ()


def test_times_are_rfc_3339_with_any_offset() -> None:
    where = params.event_filter(
        QueryParams("since=2026-11-27t10:00:00.5z&until=2026-11-27T14:00:00%2B02:00")
    )

    assert where.since == datetime(2026, 11, 27, 10, 0, 0, 500000, tzinfo=UTC)
    assert where.until == datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=%C2%B2", "limit"),
        ("limit=-1", "limit"),
        ("order=up", "order"),
        ("since=soon", "since"),
        ("since=", "since"),
        ("until=2026-11-27", "until"),
        ("until=2026-11-27T10:00:00", "until"),
        ("limit=", "limit"),
        ("order=", "order"),
        ("cursor=zzz", "cursor"),
        ("type=a%00b", "type"),
        ("source=%1B", "source"),
        ("id=%C2%85", "id"),
    ],
)
def test_bad_values_are_400_naming_the_parameter(query: str, parameter: str) -> None:
    parsed = QueryParams(query)

    def parse_all() -> None:
        params.limit(parsed)
        params.order(parsed)
        params.event_filter(parsed)
        params.cursor(parsed, "desc")

    with pytest.raises(ApiError) as caught:
        parse_all()

    assert caught.value.status == 400
    assert caught.value.extra["parameter"] == parameter


@pytest.mark.parametrize("value", ["x", "-1", "1.5", "99999999999999999999", "²"])
def test_a_sequence_must_be_a_non_negative_64_bit_integer(value: str) -> None:
    with pytest.raises(ApiError):
        params.sequence(value, "Last-Event-ID")


def test_a_sequence_may_be_absent() -> None:
    assert params.sequence(None, "x") is None
    assert params.sequence(" 12 ", "x") == 12
