"""The syntax tree of a CESQL expression; every node knows its offset in the text."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from .values import Value


class BinaryOperator(enum.Enum):
    """Binary operators of spec §3.4.2, by their canonical spelling."""

    MULTIPLY = "*"
    DIVIDE = "/"
    MODULO = "%"
    ADD = "+"
    SUBTRACT = "-"
    EQUAL = "="
    NOT_EQUAL = "!="
    LESS = "<"
    LESS_EQUAL = "<="
    GREATER = ">"
    GREATER_EQUAL = ">="
    AND = "AND"
    OR = "OR"
    XOR = "XOR"


class UnaryOperator(enum.Enum):
    """Unary operators of spec §3.4.1."""

    NOT = "NOT"
    NEGATE = "-"


@dataclass(frozen=True, slots=True)
class Literal:
    """A boolean, integer or string literal."""

    value: Value
    position: int


@dataclass(frozen=True, slots=True)
class Identifier:
    """A context attribute reference; ``name`` is lower-cased."""

    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Exists:
    """``EXISTS name``."""

    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Unary:
    """``NOT x`` or ``-x``."""

    operator: UnaryOperator
    operand: Node
    position: int


@dataclass(frozen=True, slots=True)
class Binary:
    """``left <operator> right``; ``<>`` is parsed as ``!=``."""

    operator: BinaryOperator
    left: Node
    right: Node
    position: int


@dataclass(frozen=True, slots=True)
class Like:
    """``operand [NOT] LIKE 'pattern'``; the pattern is always a string literal."""

    operand: Node
    pattern: str
    negated: bool
    position: int


@dataclass(frozen=True, slots=True)
class In:
    """``operand [NOT] IN (item, ...)`` with at least one item."""

    operand: Node
    items: tuple[Node, ...]
    negated: bool
    position: int


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """``NAME(arg, ...)``; ``name`` is upper-cased."""

    name: str
    arguments: tuple[Node, ...]
    position: int


Node: TypeAlias = Literal | Identifier | Exists | Unary | Binary | Like | In | FunctionCall
