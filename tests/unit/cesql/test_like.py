"""Spec §3.4.3: the LIKE operator and its pattern language."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cesql.like import LikePattern

from .support import value


@pytest.mark.parametrize(
    ("subject", "pattern", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "ABC", False),
        ("ab", "_b%", True),
        ("abcd1", "_b%", True),
        ("b", "_b%", False),
        ("acd", "_b%", False),
        ("aBc", "_b%", False),
        ("abc%", "abc\\%", True),
        ("abcd", "abc\\%", False),
        ("a_c", "a\\_c", True),
        ("abc", "a\\_c", False),
        ("a\\c", "a\\c", True),
        ("", "%", True),
        ("", "_", False),
        ("", "", True),
        ("x", "", False),
        ("a.b", "a.b", True),
        ("axb", "a.b", False),
        ("line\nbreak", "line_break", True),
        ("line\nbreak", "line%", True),
        ("aaa", "%a%a%a%", True),
        ("aa", "%a%a%a%", False),
        ("https://example.com", "https://%", True),
        ("com.github.error", "%.error", True),
        ("abc123123%456_dzf", "abc%123\\%456\\_d_f", True),
    ],
)
def test_like_pattern(subject: str, pattern: str, expected: bool) -> None:
    assert LikePattern(pattern).matches(subject) is expected


def _reference(pattern: str) -> re.Pattern[str]:
    """The same language as a regular expression, to check the matcher against."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and pattern[index + 1 : index + 2] in ("%", "_"):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append({"%": ".*", "_": "."}.get(char, re.escape(char)))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


@settings(max_examples=300, deadline=None)
@given(
    subject=st.text(alphabet="ab%_\\", max_size=8),
    pattern=st.text(alphabet="ab%_\\", max_size=6),
)
def test_like_agrees_with_a_regular_expression_reference(subject: str, pattern: str) -> None:
    expected = _reference(pattern).fullmatch(subject) is not None
    assert LikePattern(pattern).matches(subject) is expected


def test_like_stays_fast_on_many_wildcards() -> None:
    pattern = LikePattern("%a%a%a%a%a%a%a%a%a%b_")
    assert pattern.matches("a" * 5000) is False


def test_like_casts_the_left_operand_to_string() -> None:
    assert value("234 LIKE '23_'") is True
    assert value("TRUE LIKE 'tr%'") is True


def test_not_like_negates_like() -> None:
    assert value("'abc' NOT LIKE 'a%'") is False
    assert value("'abc' NOT LIKE 'b%'") is True


def test_like_keyword_is_case_insensitive() -> None:
    assert value("type like '%.storeUser'") is True
