"""Spec §3.2, §3.3 and §4.1: missing attributes, error values and evaluation modes."""

from __future__ import annotations

import copy
import enum
from datetime import UTC, datetime

import pytest

from cesql import MissingAttributeError, compile_expression

from .support import event, kinds, run, typed, value


class _Kind(enum.StrEnum):
    USER = "user"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("missing", False),  # no operator: the type is unknown, so Boolean
        ("(missing)", False),
        ("missing = 2", False),
        ("missing != 2", False),
        ("missing <= 2", False),
        ("missing * 5", 0),
        ("missing / 0", 0),  # no MathError: the missing attribute decides first
        ("1 / missing", 0),
        ("-missing", 0),
        ("NOT missing", False),
        ("missing LIKE '%'", False),
        ("missing NOT LIKE 'x'", False),
        ("missing IN ('a')", False),
        ("missing NOT IN ('a')", False),
        ("'a' IN ('b', missing)", False),
        ("LENGTH(missing)", 0),
        ("CONCAT('a', missing)", ""),
        ("missing OR TRUE", False),
        ("TRUE AND missing", False),
        ("TRUE XOR missing", False),
    ],
)
def test_missing_attribute_gives_the_zero_value_of_the_enclosing_operation(
    text: str, expected: object
) -> None:
    result = run(text)
    assert typed(result.value) == typed(expected)
    assert kinds(result) == ["missingAttribute"]


def test_only_the_innermost_operation_takes_the_zero_value() -> None:
    result = run("TRUE AND (missing = '')")
    assert result.value is False
    assert kinds(result) == ["missingAttribute"]
    # (missing = 2) is false, and NOT false is true: the outer NOT still computes.
    assert run("NOT (missing = 2)").value is True


def test_missing_attribute_error_names_the_attribute_and_its_position() -> None:
    (error,) = run("id = 'x' OR myext = 'y'").errors
    assert isinstance(error, MissingAttributeError)
    assert error.attribute == "myext"
    assert error.position == 12
    assert str(error) == "missing attribute 'myext' (at position 12)"


def test_null_attribute_counts_as_missing() -> None:
    assert kinds(run("subject = 'a'", subject=None)) == ["missingAttribute"]
    assert value("EXISTS subject", subject=None) is False


def test_complete_evaluation_collects_every_error_and_keeps_computed_values() -> None:
    result = run("TRUE AND (1 != 1 / 0) AND LEFT('abc', -1) = 'abc' AND missing")
    assert kinds(result) == ["math", "functionEvaluation", "missingAttribute"]
    assert result.value is False


def test_fail_fast_stops_at_the_first_error_with_the_expression_zero_value() -> None:
    result = run("TRUE AND (1 != 1 / 0)", fail_fast=True)
    assert typed(result.value) == typed(False)
    assert kinds(result) == ["math"]
    assert typed(run("LEFT('abc', -1)", fail_fast=True).value) == typed("")
    assert typed(run("ABS(-2147483648) + 1", fail_fast=True).value) == typed(0)
    assert typed(run("missing", fail_fast=True).value) == typed(False)


def test_modes_agree_when_nothing_fails() -> None:
    expression = compile_expression("CONCAT(type, '/', LENGTH(id))")
    complete = expression.evaluate(event())
    fail_fast = expression.evaluate(event(), fail_fast=True)
    assert complete == fail_fast
    assert complete.value == "user.storeUser/7"
    assert complete.ok


@pytest.mark.parametrize(
    ("text", "attributes", "expected"),
    [
        ("type = 'user.storeUser'", {}, True),
        ("type = 'other'", {}, False),
        ("type", {}, False),  # a String, not a Boolean
        ("1", {}, False),
        ("'true'", {}, False),
        ("myflag", {"myflag": True}, True),
        ("myext = 'a'", {}, False),  # missing attribute
        ("TRUE OR missing", {}, True),  # short circuit: no error
        ("TRUE AND 1 / 0 = 0", {}, False),  # true, but with a MathError
        ("FOO()", {}, False),
    ],
)
def test_matches_only_a_boolean_true_without_errors(
    text: str, attributes: dict[str, object], expected: bool
) -> None:
    assert compile_expression(text).matches(event(**attributes)) is expected


def test_evaluation_does_not_mutate_the_event() -> None:
    source = event(myext="5", myint=3, flag=True)
    snapshot = copy.deepcopy(source)
    compile_expression("myext + myint = 8 AND flag AND CONCAT(myext) = '5'").evaluate(source)
    assert source == snapshot


def test_typed_extension_values_keep_their_type() -> None:
    assert typed(value("myint", myint=10)) == typed(10)
    assert typed(value("myflag", myflag=True)) == typed(True)
    assert value("myint = 10", myint=10) is True
    assert value("myint = '10'", myint=10) is True  # 10 is cast to '10'


def test_non_primitive_attribute_values_are_represented_as_strings() -> None:
    moment = datetime(2018, 4, 26, 12, 48, 9, tzinfo=UTC)
    assert value("time", time=moment) == "2018-04-26T12:48:09+00:00"
    assert value("payload", payload=b"\x00\x01") == "AAE="
    assert value("big", big=2**40) == str(2**40)
    assert typed(value("kind", kind=_Kind.USER)) == typed("user")
    assert kinds(run("big + 1", big=2**40)) == ["cast"]


def test_an_expression_can_be_evaluated_many_times() -> None:
    expression = compile_expression("myext LIKE 'a%'")
    assert [expression.matches(event(myext=text)) for text in ("ab", "ba", "a")] == [
        True,
        False,
        True,
    ]
    assert repr(expression) == "Expression(\"myext LIKE 'a%'\")"
