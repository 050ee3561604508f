"""Spec §3.4: unary, binary, EXISTS and IN operators."""

from __future__ import annotations

import pytest

from .support import kinds, run, typed, value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("7 / -2", -3),
        ("-7 / -2", 3),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("-7 % -3", -1),
        ("-2147483648 % -1", 0),
    ],
)
def test_division_truncates_and_remainder_takes_the_dividend_sign(text: str, expected: int) -> None:
    assert value(text) == expected


@pytest.mark.parametrize("text", ["5 / 0", "5 % 0", "0 / 0"])
def test_division_by_zero_is_zero_with_a_math_error(text: str) -> None:
    result = run(text)
    assert typed(result.value) == typed(0)
    assert kinds(result) == ["math"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2147483647 + 1", 2147483647),
        ("-2147483648 - 1", -2147483648),
        ("65536 * 65536", 2147483647),
        ("-2147483648 / -1", 2147483647),
        ("-(-2147483648)", 2147483647),
    ],
)
def test_integer_overflow_saturates_with_a_math_error(text: str, expected: int) -> None:
    result = run(text)
    assert result.value == expected
    assert kinds(result) == ["math"]


def test_arithmetic_at_the_32_bit_bounds_is_exact() -> None:
    assert value("2147483646 + 1") == 2147483647
    assert value("-2147483647 - 1") == -2147483648


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 < 2", True),
        ("2 < 2", False),
        ("2 <= 2", True),
        ("3 > 2", True),
        ("2 >= 3", False),
        ("'10' > '9'", True),  # ordering is numeric: both operands are cast to Integer
        ("TRUE > FALSE", True),
    ],
)
def test_ordering_compares_integers(text: str, expected: bool) -> None:
    assert value(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'abc' = 'abc'", True),
        ("'abc' = 'ABC'", False),
        ("'abc' != 'ABC'", True),
        ("'abc' <> 'abc'", False),
        ("1 = 1", True),
        ("TRUE != FALSE", True),
    ],
)
def test_equality_is_case_sensitive_for_strings(text: str, expected: bool) -> None:
    assert value(text) is expected


def test_and_or_short_circuit_skips_the_right_operand() -> None:
    assert run("FALSE AND 1 / 0 = 0").errors == ()
    assert run("TRUE OR 1 / 0 = 0").errors == ()
    assert kinds(run("TRUE AND 1 / 0 = 0")) == ["math"]
    assert kinds(run("FALSE OR 1 / 0 = 0")) == ["math"]


def test_xor_evaluates_both_operands() -> None:
    assert value("TRUE XOR FALSE") is True
    assert value("TRUE XOR TRUE") is False
    assert kinds(run("TRUE XOR 1 / 0 = 0")) == ["math"]


def test_exists_tells_whether_the_attribute_is_present() -> None:
    assert value("EXISTS subject", subject="s") is True
    assert value("EXISTS subject") is False
    assert value("EXISTS myext", myext="") is True


def test_exists_is_true_for_required_attributes_even_if_absent() -> None:
    from cesql import compile_expression

    assert compile_expression("EXISTS id AND EXISTS TYPE").evaluate({}).value is True


def test_in_casts_each_element_to_the_left_operand_type() -> None:
    assert value("'true' IN (TRUE, 'false')") is True
    assert value("'TRUE' IN (TRUE, 'false')") is False
    assert value("1 IN ('1', '2')") is True
    assert value("'1' IN (1, 2)") is True
    assert value("TRUE IN ('true')") is True


def test_not_in_negates_in() -> None:
    assert value("3 NOT IN (1, 2)") is True
    assert value("2 NOT IN (1, 2)") is False


def test_in_elements_may_be_expressions_and_attributes() -> None:
    assert value("source IN (myext, 'x')", myext="https://example.com/users") is True
    assert value("4 IN (1 + 3)") is True


def test_in_reports_a_cast_error_for_an_element_that_does_not_cast() -> None:
    result = run("1 IN ('a', 1)")
    assert result.value is True
    assert kinds(result) == ["cast"]
