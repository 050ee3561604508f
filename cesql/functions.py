"""Function definitions, overload resolution (spec §3.5) and the built-in functions."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from .casting import can_cast, to_boolean, to_integer, to_string
from .errors import CesqlEvaluationError, FunctionEvaluationError, MathError
from .values import INT32_MAX, INT32_MIN, CesqlType, Value

FunctionResult: TypeAlias = tuple[Value, CesqlEvaluationError | None]
"""What an implementation returns: its value, and the error that came with it if any."""

FunctionImplementation: TypeAlias = Callable[[Sequence[Value]], FunctionResult]
"""Receives the arguments already cast to the parameter types."""

_NAME: Final = re.compile(r"[A-Za-z][A-Za-z_]*")

_STRING = CesqlType.STRING
_INTEGER = CesqlType.INTEGER
_BOOLEAN = CesqlType.BOOLEAN
_ANY = CesqlType.ANY


@dataclass(frozen=True, slots=True)
class Function:
    """One function overload.

    ``parameters`` are the fixed parameter types; ``variadic``, if set, is the
    type of any number of further arguments.
    """

    name: str
    parameters: tuple[CesqlType, ...]
    return_type: CesqlType
    implementation: FunctionImplementation
    variadic: CesqlType | None = None

    def parameter_types(self, arity: int) -> tuple[CesqlType, ...]:
        """Return the parameter type of each of ``arity`` arguments."""
        extra = arity - len(self.parameters)
        if extra <= 0 or self.variadic is None:
            return self.parameters[:arity]
        return self.parameters + (self.variadic,) * extra


class FunctionRegistry:
    """Functions by case-insensitive name, overloaded by arity (spec §3.5)."""

    def __init__(self, functions: Iterable[Function] = ()) -> None:
        self._fixed: dict[str, dict[int, Function]] = {}
        self._variadic: dict[str, Function] = {}
        for function in functions:
            self.register(function)

    def register(self, function: Function) -> None:
        """Add an overload; raise ``ValueError`` if it breaks the spec's overload rules."""
        if _NAME.fullmatch(function.name) is None:
            raise ValueError(f"invalid function name {function.name!r}")
        if function.return_type is CesqlType.ANY:
            raise ValueError(f"{function.name}: the return type must be a primitive type")
        name = function.name.upper()
        fixed = self._fixed.get(name, {})
        variadic = self._variadic.get(name)
        arity = len(function.parameters)
        if function.variadic is not None:
            if variadic is not None:
                raise ValueError(f"{name} already has a variadic overload")
            if fixed and arity <= max(fixed):
                raise ValueError(
                    f"{name}: a variadic overload needs more fixed parameters "
                    f"than the largest other arity ({max(fixed)})"
                )
            self._variadic[name] = function
            return
        if arity in fixed:
            raise ValueError(f"{name} already has an overload with {arity} parameters")
        if variadic is not None and arity >= len(variadic.parameters):
            raise ValueError(
                f"{name}: arity {arity} clashes with the variadic overload, "
                f"which has {len(variadic.parameters)} fixed parameters"
            )
        self._fixed.setdefault(name, {})[arity] = function

    def resolve(self, name: str, arity: int) -> Function | None:
        """Return the overload of ``name`` that accepts ``arity`` arguments, if any."""
        upper = name.upper()
        function = self._fixed.get(upper, {}).get(arity)
        if function is not None:
            return function
        variadic = self._variadic.get(upper)
        if variadic is not None and arity >= len(variadic.parameters):
            return variadic
        return None

    def copy(self) -> FunctionRegistry:
        """Return an independent registry with the same functions (to add your own)."""
        clone = FunctionRegistry()
        clone._fixed = {name: dict(by_arity) for name, by_arity in self._fixed.items()}
        clone._variadic = dict(self._variadic)
        return clone


# Unicode White_Space: str.strip() would also remove U+001C..U+001F, which are controls.
_UNICODE_WHITESPACE: Final = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _string(args: Sequence[Value], index: int) -> str:
    value = args[index]
    if not isinstance(value, str):  # the evaluator casts arguments before the call
        raise TypeError(f"argument {index + 1} is not a String")
    return value


def _integer(args: Sequence[Value], index: int) -> int:
    value = args[index]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"argument {index + 1} is not an Integer")
    return value


def _length(args: Sequence[Value]) -> FunctionResult:
    return len(_string(args, 0)), None


def _concat(args: Sequence[Value]) -> FunctionResult:
    return "".join(_string(args, i) for i in range(len(args))), None


def _concat_ws(args: Sequence[Value]) -> FunctionResult:
    return _string(args, 0).join(_string(args, i) for i in range(1, len(args))), None


def _lower(args: Sequence[Value]) -> FunctionResult:
    return _string(args, 0).lower(), None


def _upper(args: Sequence[Value]) -> FunctionResult:
    return _string(args, 0).upper(), None


def _trim(args: Sequence[Value]) -> FunctionResult:
    return _string(args, 0).strip(_UNICODE_WHITESPACE), None


def _left(args: Sequence[Value]) -> FunctionResult:
    text, count = _string(args, 0), _integer(args, 1)
    if count < 0:
        return text, FunctionEvaluationError(f"LEFT: negative length {count}")
    return text[:count], None


def _right(args: Sequence[Value]) -> FunctionResult:
    text, count = _string(args, 0), _integer(args, 1)
    if count < 0:
        return text, FunctionEvaluationError(f"RIGHT: negative length {count}")
    return text[max(len(text) - count, 0) :], None


def _substring(args: Sequence[Value]) -> FunctionResult:
    text, position = _string(args, 0), _integer(args, 1)
    size = len(text)
    if position > size or position < -size:
        return "", FunctionEvaluationError(
            f"SUBSTRING: position {position} is outside a string of length {size}"
        )
    length = _integer(args, 2) if len(args) > 2 else None
    if length is not None and length < 0:
        return "", FunctionEvaluationError(f"SUBSTRING: negative length {length}")
    if position == 0:
        return "", None
    start = position - 1 if position > 0 else size + position
    if length is None:
        return text[start:], None
    return text[start : start + length], None


def _abs(args: Sequence[Value]) -> FunctionResult:
    value = _integer(args, 0)
    if value == INT32_MIN:
        return INT32_MAX, MathError(f"ABS({INT32_MIN}) overflows the 32-bit range")
    return abs(value), None


def _int(args: Sequence[Value]) -> FunctionResult:
    return to_integer(args[0])


def _bool(args: Sequence[Value]) -> FunctionResult:
    return to_boolean(args[0])


def _str(args: Sequence[Value]) -> FunctionResult:
    return to_string(args[0]), None


def _is_int(args: Sequence[Value]) -> FunctionResult:
    value = args[0]
    if isinstance(value, bool):
        return False, None
    return (isinstance(value, int) or can_cast(value, _INTEGER)), None


def _is_bool(args: Sequence[Value]) -> FunctionResult:
    value = args[0]
    if isinstance(value, bool):
        return True, None
    return (isinstance(value, str) and can_cast(value, _BOOLEAN)), None


BUILTINS: Final[tuple[Function, ...]] = (
    # Spec §3.5.1, string manipulation.
    Function("LENGTH", (_STRING,), _INTEGER, _length),
    Function("CONCAT", (), _STRING, _concat, variadic=_STRING),
    Function("CONCAT_WS", (_STRING,), _STRING, _concat_ws, variadic=_STRING),
    Function("LOWER", (_STRING,), _STRING, _lower),
    Function("UPPER", (_STRING,), _STRING, _upper),
    Function("TRIM", (_STRING,), _STRING, _trim),
    Function("LEFT", (_STRING, _INTEGER), _STRING, _left),
    Function("RIGHT", (_STRING, _INTEGER), _STRING, _right),
    Function("SUBSTRING", (_STRING, _INTEGER), _STRING, _substring),
    Function("SUBSTRING", (_STRING, _INTEGER, _INTEGER), _STRING, _substring),
    # Spec §3.5.2, math.
    Function("ABS", (_INTEGER,), _INTEGER, _abs),
    # Explicit casts with the §3.7 semantics (named by §3.7, exercised by the TCK).
    Function("INT", (_ANY,), _INTEGER, _int),
    Function("BOOL", (_ANY,), _BOOLEAN, _bool),
    Function("STRING", (_ANY,), _STRING, _str),
    # Type checks of the pre-1.0 drafts' "Casting and type checking" table.
    Function("IS_INT", (_ANY,), _BOOLEAN, _is_int),
    Function("IS_BOOL", (_ANY,), _BOOLEAN, _is_bool),
)


def builtin_functions() -> FunctionRegistry:
    """Return a new registry holding only the built-in functions."""
    return FunctionRegistry(BUILTINS)


DEFAULT_FUNCTIONS: Final = builtin_functions()
"""The registry used when none is given; treat it as read-only."""
