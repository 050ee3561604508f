"""Each dialect's matching rules, matching and non-matching."""

from __future__ import annotations

import pytest

from broker.filters import (
    AllFilter,
    AnyFilter,
    AttributesFilter,
    CesqlFilter,
    ExactFilter,
    Filter,
    MatchAll,
    NotFilter,
    PrefixFilter,
    SuffixFilter,
)
from cesql import compile_expression

EVENT = {
    "type": "user.storeUser",
    "source": "/apis/user",
    "subject": "42",
    "count": 7,
    "flag": True,
}

CASES: list[tuple[Filter, bool]] = [
    (ExactFilter("type", "user.storeUser"), True),
    (ExactFilter("type", "user.storeuser"), False),  # case-sensitive
    (ExactFilter("missing", "x"), False),
    (ExactFilter("count", "7"), True),  # integers compare as their text
    (ExactFilter("flag", "true"), True),  # booleans as true/false
    (PrefixFilter("type", "user."), True),
    (PrefixFilter("type", "order."), False),
    (PrefixFilter("missing", "x"), False),
    (SuffixFilter("source", "/user"), True),
    (SuffixFilter("source", "/order"), False),
    (AllFilter((ExactFilter("type", "user.storeUser"), PrefixFilter("source", "/apis"))), True),
    (AllFilter((ExactFilter("type", "user.storeUser"), PrefixFilter("source", "/x"))), False),
    (AllFilter(()), True),
    (AnyFilter((ExactFilter("type", "x"), ExactFilter("subject", "42"))), True),
    (AnyFilter((ExactFilter("type", "x"), ExactFilter("subject", "43"))), False),
    (AnyFilter(()), True),
    (NotFilter(ExactFilter("type", "x")), True),
    (NotFilter(ExactFilter("type", "user.storeUser")), False),
    (AttributesFilter((("type", "user.storeUser"),)), True),
    (AttributesFilter((("type", "user.storeUser"), ("subject", ""))), True),
    (AttributesFilter((("type", "user.storeUser"), ("missing", ""))), False),
    (AttributesFilter((("type", "other"),)), False),
    (MatchAll(), True),
    (CesqlFilter(compile_expression("type LIKE 'user.%' AND count > 5")), True),
    (CesqlFilter(compile_expression("count > 10")), False),
    (CesqlFilter(compile_expression("INT(source) > 1")), False),  # evaluation error: no match
    (CesqlFilter(compile_expression("missing = 'x'")), False),
]


@pytest.mark.parametrize(("matcher", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_matching(matcher: Filter, expected: bool) -> None:
    assert matcher.matches(EVENT) is expected


def test_legacy_empty_value_needs_a_non_empty_attribute() -> None:
    assert not AttributesFilter((("subject", ""),)).matches({"subject": ""})
