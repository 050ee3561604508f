"""Tokenizer for CESQL text (spec §2): words, literals and operator symbols."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from .errors import CesqlParseError


class TokenKind(enum.Enum):
    """The kinds of token the parser sees."""

    INTEGER = "integer"  # unsigned digits; the sign is a separate MINUS/PLUS token
    STRING = "string"
    WORD = "word"  # identifier or function name, not a keyword
    KEYWORD = "keyword"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    PLUS = "+"
    MINUS = "-"
    STAR = "*"
    SLASH = "/"
    PERCENT = "%"
    EQUAL = "="
    NOT_EQUAL = "!="
    LESS_GREATER = "<>"
    LESS = "<"
    LESS_EQUAL = "<="
    GREATER = ">"
    GREATER_EQUAL = ">="
    END = "end of expression"


KEYWORDS: Final = frozenset({"AND", "OR", "XOR", "NOT", "LIKE", "EXISTS", "IN", "TRUE", "FALSE"})

_SYMBOLS: Final = {
    "(": TokenKind.LPAREN,
    ")": TokenKind.RPAREN,
    ",": TokenKind.COMMA,
    "+": TokenKind.PLUS,
    "-": TokenKind.MINUS,
    "*": TokenKind.STAR,
    "/": TokenKind.SLASH,
    "%": TokenKind.PERCENT,
    "=": TokenKind.EQUAL,
    "!=": TokenKind.NOT_EQUAL,
    "<>": TokenKind.LESS_GREATER,
    "<": TokenKind.LESS,
    "<=": TokenKind.LESS_EQUAL,
    ">": TokenKind.GREATER,
    ">=": TokenKind.GREATER_EQUAL,
}

_WHITESPACE: Final = frozenset(" \t\r\n")
_WORD_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGITS: Final = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its text (keywords upper-cased, strings unescaped), its offset."""

    kind: TokenKind
    text: str
    position: int

    def describe(self) -> str:
        """Render the token for an error message."""
        if self.kind is TokenKind.END:
            return "end of expression"
        if self.kind is TokenKind.STRING:
            return "string literal"
        return repr(self.text)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``END`` token.

    Raises :class:`CesqlParseError` on a character that starts no token or an
    unterminated string literal.
    """
    tokens: list[Token] = []
    length = len(text)
    index = 0
    while index < length:
        char = text[index]
        if char in _WHITESPACE:
            index += 1
        elif char in _WORD_CHARS:
            end = index + 1
            while end < length and text[end] in _WORD_CHARS:
                end += 1
            tokens.append(_word_token(text[index:end], index))
            index = end
        elif char in "'\"":
            value, end = _read_string(text, index)
            tokens.append(Token(TokenKind.STRING, value, index))
            index = end
        else:
            pair = text[index : index + 2]
            if pair in _SYMBOLS:
                tokens.append(Token(_SYMBOLS[pair], pair, index))
                index += 2
            elif char in _SYMBOLS:
                tokens.append(Token(_SYMBOLS[char], char, index))
                index += 1
            else:
                raise CesqlParseError(f"unexpected character {char!r}", index)
    tokens.append(Token(TokenKind.END, "", length))
    return tokens


def _word_token(word: str, position: int) -> Token:
    if all(char in _DIGITS for char in word):
        return Token(TokenKind.INTEGER, word, position)
    upper = word.upper()
    if upper in KEYWORDS:
        return Token(TokenKind.KEYWORD, upper, position)
    return Token(TokenKind.WORD, word, position)


def _read_string(text: str, start: int) -> tuple[str, int]:
    """Read a string literal starting at its opening quote; return (value, end offset).

    A backslash and the next character form one unit (as in the spec's ANTLR
    lexer); only a backslash before the delimiting quote is an escape (spec
    §2.2), any other pair is kept as written, so LIKE still sees ``\\%``.
    """
    quote = text[start]
    parts: list[str] = []
    index = start + 1
    length = len(text)
    while index < length:
        char = text[index]
        if char == quote:
            return "".join(parts), index + 1
        if char == "\\" and index + 1 < length:
            following = text[index + 1]
            parts.append(following if following == quote else char + following)
            index += 2
        else:
            parts.append(char)
            index += 1
    raise CesqlParseError("unterminated string literal", start)
