"""Recursive-descent (Pratt) parser from tokens to the syntax tree.

Binding strength follows spec §3.6: function calls and unary operators bind
tightest, then LIKE, IN, ``* / %``, ``+ -``, comparisons, and last AND/OR/XOR,
which share one level. Operators of equal strength group left to right.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import CesqlParseError
from .lexer import Token, TokenKind, tokenize
from .nodes import (
    Binary,
    BinaryOperator,
    Exists,
    FunctionCall,
    Identifier,
    In,
    Like,
    Literal,
    Node,
    Unary,
    UnaryOperator,
)
from .values import INT32_MAX

MAX_NESTING: Final = 128
"""Deepest nesting of parentheses, unary operators and calls the parser accepts."""

_LOGIC: Final = 10
_COMPARISON: Final = 20
_ADDITIVE: Final = 30
_MULTIPLICATIVE: Final = 40
_IN: Final = 50
_LIKE: Final = 60
_UNARY: Final = 70

_SYMBOL_OPERATORS: Final = {
    TokenKind.STAR: (BinaryOperator.MULTIPLY, _MULTIPLICATIVE),
    TokenKind.SLASH: (BinaryOperator.DIVIDE, _MULTIPLICATIVE),
    TokenKind.PERCENT: (BinaryOperator.MODULO, _MULTIPLICATIVE),
    TokenKind.PLUS: (BinaryOperator.ADD, _ADDITIVE),
    TokenKind.MINUS: (BinaryOperator.SUBTRACT, _ADDITIVE),
    TokenKind.EQUAL: (BinaryOperator.EQUAL, _COMPARISON),
    TokenKind.NOT_EQUAL: (BinaryOperator.NOT_EQUAL, _COMPARISON),
    TokenKind.LESS_GREATER: (BinaryOperator.NOT_EQUAL, _COMPARISON),
    TokenKind.LESS: (BinaryOperator.LESS, _COMPARISON),
    TokenKind.LESS_EQUAL: (BinaryOperator.LESS_EQUAL, _COMPARISON),
    TokenKind.GREATER: (BinaryOperator.GREATER, _COMPARISON),
    TokenKind.GREATER_EQUAL: (BinaryOperator.GREATER_EQUAL, _COMPARISON),
}
_KEYWORD_OPERATORS: Final = {
    "AND": (BinaryOperator.AND, _LOGIC),
    "OR": (BinaryOperator.OR, _LOGIC),
    "XOR": (BinaryOperator.XOR, _LOGIC),
}

_FUNCTION_NAME: Final = re.compile(r"[A-Za-z][A-Za-z_]*")
_IDENTIFIER: Final = re.compile(r"[A-Za-z0-9]+")


def parse(text: str) -> Node:
    """Parse CESQL ``text`` into a syntax tree or raise :class:`CesqlParseError`."""
    return _Parser(tokenize(text)).parse_all()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._nesting = 0

    def parse_all(self) -> Node:
        node = self._expression(0)
        token = self._peek()
        if token.kind is not TokenKind.END:
            message = f"unexpected {token.describe()}"
            if token.kind is TokenKind.STRING and self._peek(-1).kind is TokenKind.STRING:
                message += " (escape a quote inside a string literal with a backslash)"
            raise CesqlParseError(message, token.position)
        return node

    def _peek(self, ahead: int = 0) -> Token:
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def _next(self) -> Token:
        token = self._tokens[self._index]
        if token.kind is not TokenKind.END:
            self._index += 1
        return token

    def _expect(self, kind: TokenKind, context: str) -> Token:
        token = self._next()
        if token.kind is not kind:
            raise CesqlParseError(
                f"expected {kind.value!r} {context}, found {token.describe()}", token.position
            )
        return token

    def _expression(self, min_strength: int) -> Node:
        self._nesting += 1
        if self._nesting > MAX_NESTING:
            raise CesqlParseError(
                f"expression nested deeper than {MAX_NESTING} levels", self._peek().position
            )
        left = self._prefix()
        while True:
            token = self._peek()
            if token.kind is TokenKind.KEYWORD and token.text in ("NOT", "LIKE", "IN"):
                negated = token.text == "NOT"
                keyword = self._peek(1) if negated else token
                if keyword.kind is not TokenKind.KEYWORD or keyword.text not in ("LIKE", "IN"):
                    raise CesqlParseError(
                        f"expected LIKE or IN after NOT, found {keyword.describe()}",
                        keyword.position,
                    )
                strength = _LIKE if keyword.text == "LIKE" else _IN
                if strength <= min_strength:
                    break
                self._index += 2 if negated else 1
                if strength == _LIKE:
                    left = self._like(left, negated, token)
                else:
                    left = self._in(left, negated, token)
                continue
            operator = self._binary_operator(token)
            if operator is None or operator[1] <= min_strength:
                break
            self._next()
            right = self._expression(operator[1])
            left = Binary(operator[0], left, right, token.position)
        self._nesting -= 1
        return left

    @staticmethod
    def _binary_operator(token: Token) -> tuple[BinaryOperator, int] | None:
        if token.kind is TokenKind.KEYWORD:
            return _KEYWORD_OPERATORS.get(token.text)
        return _SYMBOL_OPERATORS.get(token.kind)

    def _prefix(self) -> Node:
        token = self._next()
        kind = token.kind
        if kind is TokenKind.INTEGER:
            return self._integer(token.text, token.position, negative=False)
        if kind is TokenKind.STRING:
            return Literal(token.text, token.position)
        if kind is TokenKind.MINUS:
            following = self._peek()
            if following.kind is TokenKind.INTEGER:
                # A signed integer literal (spec §2.2), so -2147483648 stays in range.
                self._next()
                return self._integer(following.text, token.position, negative=True)
            return Unary(UnaryOperator.NEGATE, self._expression(_UNARY), token.position)
        if kind is TokenKind.PLUS:
            following = self._next()
            if following.kind is not TokenKind.INTEGER:
                raise CesqlParseError(
                    "a leading '+' must be followed by an integer literal", token.position
                )
            return self._integer(following.text, token.position, negative=False)
        if kind is TokenKind.LPAREN:
            inner = self._expression(0)
            self._expect(TokenKind.RPAREN, "to close '('")
            return inner
        if kind is TokenKind.WORD:
            if self._peek().kind is TokenKind.LPAREN:
                return self._call(token)
            return Identifier(self._identifier_name(token), token.position)
        if kind is TokenKind.KEYWORD:
            if token.text in ("TRUE", "FALSE"):
                return Literal(token.text == "TRUE", token.position)
            if token.text == "NOT":
                return Unary(UnaryOperator.NOT, self._expression(_UNARY), token.position)
            if token.text == "EXISTS":
                name_token = self._next()
                if name_token.kind is not TokenKind.WORD:
                    raise CesqlParseError(
                        f"expected an attribute name after EXISTS, found {name_token.describe()}",
                        name_token.position,
                    )
                return Exists(self._identifier_name(name_token), token.position)
        if kind is TokenKind.END:
            raise CesqlParseError("unexpected end of expression", token.position)
        raise CesqlParseError(f"expected a value, found {token.describe()}", token.position)

    @staticmethod
    def _integer(digits: str, position: int, *, negative: bool) -> Literal:
        if len(digits.lstrip("0")) > 10:  # beyond int32, and int() refuses > 4,300 digits
            raise CesqlParseError(
                f"integer literal {digits[:20]}... is outside the 32-bit signed range", position
            )
        magnitude = int(digits)
        value = -magnitude if negative else magnitude
        if not -INT32_MAX - 1 <= value <= INT32_MAX:
            raise CesqlParseError(
                f"integer literal {value} is outside the 32-bit signed range", position
            )
        return Literal(value, position)

    @staticmethod
    def _identifier_name(token: Token) -> str:
        if _IDENTIFIER.fullmatch(token.text) is None:
            raise CesqlParseError(
                f"invalid attribute name {token.text!r}: only letters and digits are allowed",
                token.position,
            )
        # Attribute names are lower case (CloudEvents naming convention); CESQL text is not.
        return token.text.lower()

    def _call(self, name_token: Token) -> FunctionCall:
        if _FUNCTION_NAME.fullmatch(name_token.text) is None:
            raise CesqlParseError(
                f"invalid function name {name_token.text!r}: "
                "a letter followed by letters or underscores is expected",
                name_token.position,
            )
        self._next()  # the "("
        arguments: list[Node] = []
        if self._peek().kind is TokenKind.RPAREN:
            self._next()
        else:
            arguments = self._expression_list("in the argument list")
        return FunctionCall(name_token.text.upper(), tuple(arguments), name_token.position)

    def _expression_list(self, context: str) -> list[Node]:
        """Parse ``expr (, expr)* )`` after an opening parenthesis."""
        items = [self._expression(0)]
        while True:
            token = self._next()
            if token.kind is TokenKind.RPAREN:
                return items
            if token.kind is not TokenKind.COMMA:
                raise CesqlParseError(
                    f"expected ',' or ')' {context}, found {token.describe()}", token.position
                )
            items.append(self._expression(0))

    def _like(self, operand: Node, negated: bool, start: Token) -> Like:
        pattern = self._next()
        if pattern.kind is not TokenKind.STRING:
            # Spec §3.4.3: the pattern must be a string literal, without casting.
            raise CesqlParseError(
                f"the LIKE pattern must be a string literal, found {pattern.describe()}",
                pattern.position,
            )
        return Like(operand, pattern.text, negated, start.position)

    def _in(self, operand: Node, negated: bool, start: Token) -> In:
        self._expect(TokenKind.LPAREN, "after IN")
        if self._peek().kind is TokenKind.RPAREN:
            raise CesqlParseError("IN needs at least one value", self._peek().position)
        items = self._expression_list("in the IN list")
        return In(operand, tuple(items), negated, start.position)
