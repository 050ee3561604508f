"""Turns a syntax tree into nested closures that evaluate it against an event.

Each closure returns a value or ``MISSING``. An identifier that is not in the
event reports a MissingAttributeError and returns ``MISSING``; the operator or
function that receives it returns the zero value of its own return type
(spec §3.2), so a missing attribute never reaches arithmetic or casts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Final, TypeAlias

from .casting import cast, to_boolean, to_integer, to_string
from .errors import (
    CesqlEvaluationError,
    CesqlParseError,
    FunctionEvaluationError,
    MathError,
    MissingAttributeError,
    MissingFunctionError,
)
from .functions import Function, FunctionRegistry
from .like import LikePattern
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
from .values import (
    INT32_MAX,
    INT32_MIN,
    CesqlType,
    Value,
    attribute_value,
    is_value_of,
    type_of,
    zero_value,
)

MAX_DEPTH: Final = 128
"""Deepest syntax tree accepted, so evaluation stays far from Python's recursion limit."""

# Spec §3.4.4: EXISTS is always true for the REQUIRED attributes of a valid event.
REQUIRED_ATTRIBUTES: Final = frozenset({"id", "source", "specversion", "type"})


class Missing(enum.Enum):
    """Marker for the value of an attribute that is not in the event."""

    MISSING = enum.auto()


MISSING: Final = Missing.MISSING

Event: TypeAlias = Mapping[str, object]


class Abort(BaseException):
    """Stops a fail-fast evaluation at its first error (never escapes the package)."""

    def __init__(self, error: CesqlEvaluationError) -> None:
        super().__init__(error)
        self.error = error


class ErrorSink:
    """Collects the errors of one evaluation, or aborts on the first in fail-fast mode."""

    __slots__ = ("errors", "fail_fast")

    def __init__(self, *, fail_fast: bool) -> None:
        self.errors: list[CesqlEvaluationError] = []
        self.fail_fast = fail_fast

    def report(self, error: CesqlEvaluationError, position: int) -> None:
        """Record ``error`` (tagging it with ``position`` if it has none)."""
        if error.position is None:
            error.position = position
        if self.fail_fast:
            raise Abort(error)
        self.errors.append(error)


Evaluator: TypeAlias = Callable[[Event, ErrorSink], Value | Missing]
Compiled: TypeAlias = tuple[Evaluator, CesqlType | None]
"""A closure and the static type of its value (``None``: unknown, an attribute)."""


def compile_tree(root: Node, functions: FunctionRegistry) -> Compiled:
    """Compile a syntax tree; raise :class:`CesqlParseError` if it is too deep."""
    return _Compiler(functions).compile(root, 1)


def _as_integer(value: Value, sink: ErrorSink, position: int) -> int:
    if type(value) is int:
        return value
    number, error = to_integer(value)
    if error is not None:
        sink.report(error, position)
    return number


def _as_boolean(value: Value, sink: ErrorSink, position: int) -> bool:
    if type(value) is bool:
        return value
    flag, error = to_boolean(value)
    if error is not None:
        sink.report(error, position)
    return flag


def _as_type(value: Value, target: CesqlType, sink: ErrorSink, position: int) -> Value:
    result, error = cast(value, target)
    if error is not None:
        sink.report(error, position)
    return result


def _in_range(result: int, sink: ErrorSink, position: int) -> int:
    # Overflow saturates with a MathError, as spec §3.5.2 defines for ABS.
    if result > INT32_MAX:
        sink.report(MathError(f"{result} overflows the 32-bit Integer range"), position)
        return INT32_MAX
    if result < INT32_MIN:
        sink.report(MathError(f"{result} overflows the 32-bit Integer range"), position)
        return INT32_MIN
    return result


def _truncated_quotient(dividend: int, divisor: int) -> int:
    quotient = abs(dividend) // abs(divisor)
    return quotient if (dividend < 0) == (divisor < 0) else -quotient


_ARITHMETIC: Final[dict[BinaryOperator, Callable[[int, int], int]]] = {
    BinaryOperator.ADD: lambda x, y: x + y,
    BinaryOperator.SUBTRACT: lambda x, y: x - y,
    BinaryOperator.MULTIPLY: lambda x, y: x * y,
    BinaryOperator.DIVIDE: _truncated_quotient,
    BinaryOperator.MODULO: lambda x, y: x - y * _truncated_quotient(x, y),
}

_ORDERING: Final[dict[BinaryOperator, Callable[[int, int], bool]]] = {
    BinaryOperator.LESS: lambda x, y: x < y,
    BinaryOperator.LESS_EQUAL: lambda x, y: x <= y,
    BinaryOperator.GREATER: lambda x, y: x > y,
    BinaryOperator.GREATER_EQUAL: lambda x, y: x >= y,
}


class _Compiler:
    def __init__(self, functions: FunctionRegistry) -> None:
        self._functions = functions

    def compile(self, node: Node, depth: int) -> Compiled:
        if depth > MAX_DEPTH:
            raise CesqlParseError(
                f"expression nested deeper than {MAX_DEPTH} levels", node.position
            )
        match node:
            case Literal():
                return self._literal(node)
            case Identifier():
                return self._identifier(node)
            case Exists():
                return self._exists(node)
            case Unary():
                return self._unary(node, depth)
            case Binary():
                return self._binary(node, depth)
            case Like():
                return self._like(node, depth)
            case In():
                return self._in(node, depth)
            case FunctionCall():
                return self._call(node, depth)

    @staticmethod
    def _literal(node: Literal) -> Compiled:
        value = node.value

        def literal(event: Event, sink: ErrorSink) -> Value | Missing:
            return value

        return literal, type_of(value)

    @staticmethod
    def _identifier(node: Identifier) -> Compiled:
        name, position = node.name, node.position

        def identifier(event: Event, sink: ErrorSink) -> Value | Missing:
            raw = event.get(name)
            if raw is None:
                sink.report(MissingAttributeError(name), position)
                return MISSING
            if type(raw) is str:
                return raw
            return attribute_value(raw)

        return identifier, None

    @staticmethod
    def _exists(node: Exists) -> Compiled:
        name = node.name
        if name in REQUIRED_ATTRIBUTES:

            def always(event: Event, sink: ErrorSink) -> Value | Missing:
                return True

            return always, CesqlType.BOOLEAN

        def exists(event: Event, sink: ErrorSink) -> Value | Missing:
            return event.get(name) is not None

        return exists, CesqlType.BOOLEAN

    def _unary(self, node: Unary, depth: int) -> Compiled:
        operand, _ = self.compile(node.operand, depth + 1)
        position = node.position
        if node.operator is UnaryOperator.NOT:

            def negation(event: Event, sink: ErrorSink) -> Value | Missing:
                value = operand(event, sink)
                if value is MISSING:
                    return False
                return not _as_boolean(value, sink, position)

            return negation, CesqlType.BOOLEAN

        def minus(event: Event, sink: ErrorSink) -> Value | Missing:
            value = operand(event, sink)
            if value is MISSING:
                return 0
            return _in_range(-_as_integer(value, sink, position), sink, position)

        return minus, CesqlType.INTEGER

    def _binary(self, node: Binary, depth: int) -> Compiled:
        left, _ = self.compile(node.left, depth + 1)
        right, _ = self.compile(node.right, depth + 1)
        operator, position = node.operator, node.position
        if operator in _ARITHMETIC:
            return self._arithmetic(operator, left, right, position), CesqlType.INTEGER
        if operator in _ORDERING:
            return self._ordering(operator, left, right, position), CesqlType.BOOLEAN
        if operator in (BinaryOperator.EQUAL, BinaryOperator.NOT_EQUAL):
            equal = operator is BinaryOperator.EQUAL
            return self._equality(equal, left, right, position), CesqlType.BOOLEAN
        return self._logic(operator, left, right, position), CesqlType.BOOLEAN

    @staticmethod
    def _arithmetic(
        operator: BinaryOperator, left: Evaluator, right: Evaluator, position: int
    ) -> Evaluator:
        apply = _ARITHMETIC[operator]
        divides = operator in (BinaryOperator.DIVIDE, BinaryOperator.MODULO)

        def arithmetic(event: Event, sink: ErrorSink) -> Value | Missing:
            x, y = left(event, sink), right(event, sink)
            if x is MISSING or y is MISSING:
                return 0
            a, b = _as_integer(x, sink, position), _as_integer(y, sink, position)
            if divides and b == 0:
                sink.report(MathError("division by zero"), position)
                return 0
            return _in_range(apply(a, b), sink, position)

        return arithmetic

    @staticmethod
    def _ordering(
        operator: BinaryOperator, left: Evaluator, right: Evaluator, position: int
    ) -> Evaluator:
        compare = _ORDERING[operator]

        def ordering(event: Event, sink: ErrorSink) -> Value | Missing:
            x, y = left(event, sink), right(event, sink)
            if x is MISSING or y is MISSING:
                return False
            return compare(_as_integer(x, sink, position), _as_integer(y, sink, position))

        return ordering

    @staticmethod
    def _equality(equal: bool, left: Evaluator, right: Evaluator, position: int) -> Evaluator:
        def equality(event: Event, sink: ErrorSink) -> Value | Missing:
            x, y = left(event, sink), right(event, sink)
            if x is MISSING or y is MISSING:
                return False
            if type(x) is not type(y):
                # "=" is ambiguous: the right operand's type picks the overload (spec §3.7).
                x = _as_type(x, type_of(y), sink, position)
            return (x == y) is equal

        return equality

    @staticmethod
    def _logic(
        operator: BinaryOperator, left: Evaluator, right: Evaluator, position: int
    ) -> Evaluator:
        if operator is BinaryOperator.AND:

            def conjunction(event: Event, sink: ErrorSink) -> Value | Missing:
                x = left(event, sink)
                if x is MISSING or not _as_boolean(x, sink, position):
                    return False  # short circuit (spec §3.4.2)
                y = right(event, sink)
                return y is not MISSING and _as_boolean(y, sink, position)

            return conjunction
        if operator is BinaryOperator.OR:

            def disjunction(event: Event, sink: ErrorSink) -> Value | Missing:
                x = left(event, sink)
                if x is MISSING:
                    return False
                if _as_boolean(x, sink, position):
                    return True  # short circuit (spec §3.4.2)
                y = right(event, sink)
                return y is not MISSING and _as_boolean(y, sink, position)

            return disjunction

        def exclusive(event: Event, sink: ErrorSink) -> Value | Missing:
            x, y = left(event, sink), right(event, sink)
            if x is MISSING or y is MISSING:
                return False
            return _as_boolean(x, sink, position) is not _as_boolean(y, sink, position)

        return exclusive

    def _like(self, node: Like, depth: int) -> Compiled:
        operand, _ = self.compile(node.operand, depth + 1)
        matches = LikePattern(node.pattern).matches
        negated = node.negated

        def like(event: Event, sink: ErrorSink) -> Value | Missing:
            value = operand(event, sink)
            if value is MISSING:
                return False
            text = value if type(value) is str else to_string(value)
            return matches(text) is not negated

        return like, CesqlType.BOOLEAN

    def _in(self, node: In, depth: int) -> Compiled:
        operand, _ = self.compile(node.operand, depth + 1)
        items = tuple(self.compile(item, depth + 1)[0] for item in node.items)
        negated, position = node.negated, node.position

        def membership(event: Event, sink: ErrorSink) -> Value | Missing:
            value = operand(event, sink)
            missing = value is MISSING
            found = False
            for item in items:
                element = item(event, sink)
                if element is MISSING:
                    missing = True
                elif found or value is MISSING:
                    continue  # still evaluated, so that complete mode reports its errors
                elif type(element) is type(value):
                    found = element == value
                else:
                    # The left operand's type is the target of the cast (spec §3.7).
                    found = _as_type(element, type_of(value), sink, position) == value
            if missing:
                return False
            return found is not negated

        return membership, CesqlType.BOOLEAN

    def _call(self, node: FunctionCall, depth: int) -> Compiled:
        arity = len(node.arguments)
        function = self._functions.resolve(node.name, arity)
        position = node.position
        if function is None:
            name = node.name

            def missing_function(event: Event, sink: ErrorSink) -> Value | Missing:
                sink.report(MissingFunctionError(name, arity), position)
                return False  # spec §3.5: an undispatchable call is false

            return missing_function, CesqlType.BOOLEAN
        arguments = tuple(self.compile(argument, depth + 1)[0] for argument in node.arguments)
        return _invoke(function, arguments, position), function.return_type


def _invoke(function: Function, arguments: tuple[Evaluator, ...], position: int) -> Evaluator:
    parameter_types = function.parameter_types(len(arguments))
    pairs = tuple(zip(arguments, parameter_types, strict=True))
    implementation = function.implementation
    return_type = function.return_type
    zero = zero_value(return_type)
    name = function.name

    def call(event: Event, sink: ErrorSink) -> Value | Missing:
        values: list[Value] = []
        missing = False
        for argument, parameter_type in pairs:
            value = argument(event, sink)
            if value is MISSING:
                missing = True
            elif not missing:
                if not is_value_of(value, parameter_type):
                    value = _as_type(value, parameter_type, sink, position)
                values.append(value)
        if missing:
            return zero
        try:
            result, error = implementation(values)
        except Exception as exc:  # a user-defined function failed: spec §3.5.3
            sink.report(FunctionEvaluationError(f"{name} failed: {exc}"), position)
            return zero
        if not is_value_of(result, return_type):
            sink.report(
                FunctionEvaluationError(f"{name} returned {result!r}, not a {return_type.value}"),
                position,
            )
            return zero
        if error is not None:
            sink.report(error, position)
        return result

    return call
