"""Spec §3.5: the built-in functions and how calls are dispatched."""

from __future__ import annotations

import pytest

from .support import kinds, run, typed, value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LENGTH('abc')", 3),
        ("LENGTH('')", 0),
        ("LENGTH('héllo')", 5),
        ("LENGTH(TRUE)", 4),
        ("CONCAT()", ""),
        ("CONCAT('a')", "a"),
        ("CONCAT('a', 1, TRUE)", "a1true"),
        ("CONCAT_WS(',')", ""),
        ("CONCAT_WS(',', 'a')", "a"),
        ("CONCAT_WS(', ', 'a', 'b', 'c')", "a, b, c"),
        ("LOWER('AbC')", "abc"),
        ("UPPER('AbC')", "ABC"),
        ("UPPER('straße')", "STRASSE"),
        ("TRIM('  a b  ')", "a b"),
        ("TRIM('\t\n a \u3000\u00a0')", "a"),
        ("LEFT('abc', 2)", "ab"),
        ("LEFT('abc', 0)", ""),
        ("LEFT('abc', 10)", "abc"),
        ("RIGHT('abc', 2)", "bc"),
        ("RIGHT('abc', 0)", ""),
        ("RIGHT('abc', 10)", "abc"),
        ("SUBSTRING('abcdef', 1)", "abcdef"),
        ("SUBSTRING('abcdef', 6)", "f"),
        ("SUBSTRING('Sakila', -3)", "ila"),
        ("SUBSTRING('Sakila', -6)", "Sakila"),
        ("SUBSTRING('abcdef', 0)", ""),
        ("SUBSTRING('abcdef', 2, 4)", "bcde"),
        ("SUBSTRING('abcdef', 2, 0)", ""),
        ("SUBSTRING('abcdef', 5, 10)", "ef"),
        ("SUBSTRING('Sakila', -5, 3)", "aki"),
        ("SUBSTRING('abcdef', 0, 1)", ""),
        ("ABS(-10)", 10),
        ("ABS(10)", 10),
        ("ABS(-2147483647)", 2147483647),
    ],
)
def test_builtin_function(text: str, expected: object) -> None:
    assert typed(value(text)) == typed(expected)


def test_trim_keeps_control_characters_that_are_not_unicode_whitespace() -> None:
    assert value("TRIM('\x1c a \x1f')") == "\x1c a \x1f"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LEFT('abc', -1)", "abc"),
        ("RIGHT('abc', -1)", "abc"),
        ("SUBSTRING('abc', 4)", ""),
        ("SUBSTRING('abc', -4)", ""),
        ("SUBSTRING('abc', 4, 1)", ""),
        ("SUBSTRING('abc', 1, -1)", ""),
        ("SUBSTRING('', 1)", ""),
    ],
)
def test_function_outside_its_domain_returns_its_value_with_an_error(
    text: str, expected: str
) -> None:
    result = run(text)
    assert result.value == expected
    assert kinds(result) == ["functionEvaluation"]


def test_abs_of_the_smallest_integer_saturates_with_a_math_error() -> None:
    result = run("ABS(-2147483648)")
    assert result.value == 2147483647
    assert kinds(result) == ["math"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INT('-12')", -12),
        ("INT(TRUE)", 1),
        ("INT(7)", 7),
        ("BOOL('TRUE')", True),
        ("BOOL(0)", False),
        ("BOOL(-50)", True),
        ("STRING(FALSE)", "false"),
        ("STRING(-1)", "-1"),
        ("IS_INT('12')", True),
        ("IS_INT(12)", True),
        ("IS_INT('x')", False),
        ("IS_INT(TRUE)", False),
        ("IS_BOOL('False')", True),
        ("IS_BOOL(TRUE)", True),
        ("IS_BOOL('1')", False),
        ("IS_BOOL(1)", False),
    ],
)
def test_cast_and_type_check_functions(text: str, expected: object) -> None:
    assert typed(value(text)) == typed(expected)


def test_cast_function_failure_reports_a_cast_error() -> None:
    result = run("INT('abc')")
    assert typed(result.value) == typed(0)
    assert kinds(result) == ["cast"]


def test_function_names_are_case_insensitive() -> None:
    assert value("int(hop) < int(ttl) and int(hop) < 1000", hop="5", ttl="10") is True
    assert value("Concat_Ws('-', 'a', 'b')") == "a-b"


@pytest.mark.parametrize(
    "text", ["NOPE()", "CONCAT_WS()", "LENGTH()", "LENGTH('a', 'b')", "IS_STRING('a')"]
)
def test_unknown_function_or_arity_is_false_with_a_missing_function_error(text: str) -> None:
    result = run(text)
    assert typed(result.value) == typed(False)
    assert kinds(result) == ["missingFunction"]


def test_function_arguments_are_cast_to_the_parameter_types() -> None:
    assert value("LEFT(12345, '2')") == "12"
    result = run("LEFT('abc', 'x')")
    assert result.value == ""  # 'x' casts to 0
    assert kinds(result) == ["cast"]
