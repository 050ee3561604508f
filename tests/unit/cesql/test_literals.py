"""Spec §2.2: literals and the lexical rules around them."""

from __future__ import annotations

import pytest

from cesql import CesqlParseError, compile_expression

from .support import typed, value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("tRuE", True),
        ("false", False),
        ("FaLsE", False),
        ("0", 0),
        ("42", 42),
        ("+42", 42),
        ("-42", -42),
        ("2147483647", 2147483647),
        ("-2147483648", -2147483648),
        ("'abc'", "abc"),
        ('"abc"', "abc"),
        ("''", ""),
        ("'aBc'", "aBc"),
    ],
)
def test_literal_evaluates_to_its_typed_value(text: str, expected: object) -> None:
    assert typed(value(text)) == typed(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"'a\'b'", "a'b"),
        (r'"a\"b"', 'a"b'),
        (r"""'a"b'""", 'a"b'),
        (r'''"a'b"''', "a'b"),
        (r"'a\"b'", r"a\"b"),
        (r"'a\%b'", r"a\%b"),
        (r"'a\\b'", r"a\\b"),
        ("'line\nbreak'", "line\nbreak"),
    ],
)
def test_only_the_delimiting_quote_is_escaped_in_a_string(text: str, expected: str) -> None:
    assert value(text) == expected


@pytest.mark.parametrize("text", ["2147483648", "-2147483649", "99999999999999999999"])
def test_integer_literal_outside_32_bits_is_a_parse_error(text: str) -> None:
    with pytest.raises(CesqlParseError, match="32-bit"):
        compile_expression(text)


@pytest.mark.parametrize(
    ("text", "position"),
    [("'abc", 0), ('x = "abc', 4), (r"'abc\'", 0)],
)
def test_unterminated_string_reports_its_opening_quote(text: str, position: int) -> None:
    with pytest.raises(CesqlParseError, match="unterminated") as raised:
        compile_expression(text)
    assert raised.value.position == position


def test_doubled_quote_is_not_an_escape() -> None:
    with pytest.raises(CesqlParseError, match="backslash") as raised:
        compile_expression("'it''s'")
    assert raised.value.position == 4


@pytest.mark.parametrize(("text", "position"), [("a # b", 2), ("x = 'a' ! 1", 8), ("é", 0)])
def test_unknown_character_is_a_parse_error(text: str, position: int) -> None:
    with pytest.raises(CesqlParseError, match="unexpected character") as raised:
        compile_expression(text)
    assert raised.value.position == position


def test_whitespace_between_tokens_is_ignored() -> None:
    assert value(" \t1\r\n+\n2 ") == 3


def test_parse_error_kind_and_message() -> None:
    with pytest.raises(CesqlParseError) as raised:
        compile_expression("1 +")
    assert raised.value.kind == "parse"
    assert str(raised.value) == "unexpected end of expression (at position 3)"
