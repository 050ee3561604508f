"""Spec §2 and §3.6: grammar, precedence and parse errors."""

from __future__ import annotations

import re

import pytest

from cesql import CesqlParseError, compile_expression
from cesql.nodes import Binary, BinaryOperator, FunctionCall, Identifier, Literal, Unary

from .support import kinds, run, value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("4 * 2 + 4 / 2", 10),
        ("10 - 2 - 3", 5),
        ("100 / 10 / 5", 2),
        ("4-1", 3),
        ("--1", 1),
        ("- -1", 1),
        ("-(2 + 3)", -5),
    ],
)
def test_arithmetic_precedence_and_left_grouping(text: str, expected: int) -> None:
    assert value(text) == expected


def test_comparison_binds_looser_than_arithmetic() -> None:
    assert value("1 + 1 = 2") is True
    assert value("2 * 3 > 5") is True


def test_logic_operators_share_one_level_and_group_left_to_right() -> None:
    # Spec §3.6 lists AND, OR, XOR at one level, evaluated left to right:
    # this is (TRUE OR FALSE) AND FALSE, not SQL's TRUE OR (FALSE AND FALSE).
    assert value("TRUE OR FALSE AND FALSE") is False
    assert value("TRUE OR (FALSE AND FALSE)") is True
    assert value("FALSE AND FALSE OR TRUE") is True
    assert value("TRUE XOR TRUE OR TRUE") is True


def test_unary_operators_bind_tighter_than_like_and_comparisons() -> None:
    tree = compile_expression("NOT a = b").tree
    assert isinstance(tree, Binary)
    assert tree.operator is BinaryOperator.EQUAL
    assert isinstance(tree.left, Unary)
    # So NOT applies to the attribute, which then fails to cast to Boolean.
    assert kinds(run("NOT myext LIKE 'a%'", myext="abc")) == ["cast"]
    assert value("NOT (myext LIKE 'a%')", myext="abc") is False


def test_like_and_in_bind_tighter_than_binary_operators() -> None:
    assert value("myext LIKE 'a%' AND myext IN ('abc')", myext="abc") is True
    assert value("myext NOT LIKE 'z%' = TRUE", myext="abc") is True


def test_not_exists_negates_exists() -> None:
    assert value("NOT EXISTS subject") is True
    assert value("NOT EXISTS subject", subject="s") is False


def test_keywords_are_case_insensitive() -> None:
    assert value("true and not false xor false") is True
    assert value("myext not like 'x%' or exists subject", myext="abc") is True
    assert value("1 in (1) And 1 Not In (2)") is True


def test_attribute_names_are_case_insensitive_and_lower_cased() -> None:
    tree = compile_expression("MyExt").tree
    assert tree == Identifier("myext", 0)
    assert value("SOURCE") == "https://example.com/users"


def test_function_names_are_upper_cased() -> None:
    tree = compile_expression("concat_Ws('-', 'a')").tree
    assert isinstance(tree, FunctionCall)
    assert tree.name == "CONCAT_WS"


def test_negative_integer_is_folded_into_a_literal() -> None:
    assert compile_expression("-2147483648").tree == Literal(-2147483648, 0)


def test_digits_only_word_is_a_number_and_other_words_are_attributes() -> None:
    assert value("1a", **{"1a": "x"}) == "x"


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, "unexpected end of expression"),
        ("ABC(", 4, "unexpected end of expression"),
        ("(1 + 2", 6, "expected ')'"),
        ("1 2", 2, "unexpected '2'"),
        ("1 +", 3, "unexpected end"),
        ("x LIKE 123", 7, "string literal"),
        ("x LIKE y", 7, "string literal"),
        ("x NOT y", 6, "expected LIKE or IN after NOT"),
        ("x IN 1", 5, "expected '('"),
        ("x IN ()", 6, "at least one value"),
        ("x IN (1 2)", 8, "expected ',' or ')'"),
        ("EXISTS 'a'", 7, "attribute name after EXISTS"),
        ("EXISTS", 6, "attribute name after EXISTS"),
        ("my_ext = 1", 0, "invalid attribute name"),
        ("f1(2)", 0, "invalid function name"),
        ("CONCAT(1,)", 9, "expected a value"),
        ("+x", 0, "integer literal"),
        ("*", 0, "expected a value"),
        ("TRUE()", 4, "unexpected '('"),
    ],
)
def test_invalid_text_is_a_parse_error_with_a_position(
    text: str, position: int, message: str
) -> None:
    with pytest.raises(CesqlParseError, match=re.escape(message)) as raised:
        compile_expression(text)
    assert raised.value.position == position


def test_deep_nesting_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(CesqlParseError, match="nested deeper"):
        compile_expression("(" * 500 + "1" + ")" * 500)
    with pytest.raises(CesqlParseError, match="nested deeper"):
        compile_expression(" AND ".join(["TRUE"] * 500))


def test_moderate_nesting_is_accepted() -> None:
    assert value("(" * 60 + "1" + ")" * 60) == 1
    assert value(" AND ".join(["TRUE"] * 100)) is True


def test_tree_keeps_operator_positions() -> None:
    tree = compile_expression("a + b").tree
    assert isinstance(tree, Binary)
    assert tree.position == 2
    assert tree.left == Identifier("a", 0)
