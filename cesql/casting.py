"""Type casts between the primitive types, with the semantics of spec §3.7.

Each cast returns ``(value, error)``: on failure the value is the spec's fallback
(``0`` or ``false``) and ``error`` is a :class:`CastError`, otherwise ``None``.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import CastError
from .values import INT32_MAX, INT32_MIN, CesqlType, Value

# ASCII digits only: Python's int() would also accept "1_000", " 7 " and "٣".
_INTEGER_TEXT: Final = re.compile(r"([+-]?)0*([0-9]+)")
# Significant digits of the longest int32 (2147483648): more is out of range, and
# int() of a string over 4,300 digits would raise (sys.get_int_max_str_digits).
_MAX_DIGITS: Final = 10


def to_integer(value: Value) -> tuple[int, CastError | None]:
    """Cast to Integer: booleans give 1/0, strings are parsed as base-10 int32."""
    if isinstance(value, bool):
        return (1 if value else 0), None
    if isinstance(value, int):
        return value, None
    match = _INTEGER_TEXT.fullmatch(value)
    if match is None:
        return 0, CastError(f"cannot cast {_excerpt(value)} to Integer")
    sign, digits = match.groups()
    if len(digits) > _MAX_DIGITS or not INT32_MIN <= (number := int(sign + digits)) <= INT32_MAX:
        return 0, CastError(f"cannot cast {_excerpt(value)} to Integer: out of the 32-bit range")
    return number, None


def _excerpt(value: str, limit: int = 64) -> str:
    # Error messages quote the value; a 1 MiB attribute must not be copied into each.
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} chars)"


def to_boolean(value: Value) -> tuple[bool, CastError | None]:
    """Cast to Boolean: integers are true unless 0, strings must be true/false (any case)."""
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int):
        return value != 0, None
    lowered = value.lower()
    if lowered == "true":
        return True, None
    if lowered == "false":
        return False, None
    return False, CastError(f"cannot cast {value!r} to Boolean")


def to_string(value: Value) -> str:
    """Cast to String; this cast never fails."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value


def cast(value: Value, target: CesqlType) -> tuple[Value, CastError | None]:
    """Cast ``value`` to ``target`` (``ANY`` keeps the value as it is)."""
    if target is CesqlType.INTEGER:
        return to_integer(value)
    if target is CesqlType.BOOLEAN:
        return to_boolean(value)
    if target is CesqlType.STRING:
        return to_string(value), None
    return value, None


def can_cast(value: Value, target: CesqlType) -> bool:
    """Tell whether ``value`` casts to ``target`` without an error."""
    return cast(value, target)[1] is None
