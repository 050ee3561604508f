"""The CESQL type system (spec §3.1): three primitive types and their zero values."""

from __future__ import annotations

import base64
import enum
from datetime import datetime
from typing import Final, TypeAlias

Value: TypeAlias = bool | int | str
"""A CESQL value: Boolean, Integer (32-bit) or String."""

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1


class CesqlType(enum.Enum):
    """A CESQL type; ``ANY`` only appears as a function parameter type (no cast)."""

    BOOLEAN = "Boolean"
    INTEGER = "Integer"
    STRING = "String"
    ANY = "Any"


_ZERO: Final[dict[CesqlType, Value]] = {
    CesqlType.BOOLEAN: False,
    CesqlType.INTEGER: 0,
    CesqlType.STRING: "",
}


def zero_value(cesql_type: CesqlType | None) -> Value:
    """Return the zero value of a type; an unknown type counts as Boolean (spec §3.2)."""
    if cesql_type is None:
        return False
    return _ZERO.get(cesql_type, False)


def type_of(value: Value) -> CesqlType:
    """Return the CESQL type of a Python value (``bool`` is checked before ``int``)."""
    if isinstance(value, bool):
        return CesqlType.BOOLEAN
    if isinstance(value, int):
        return CesqlType.INTEGER
    return CesqlType.STRING


def is_value_of(value: object, cesql_type: CesqlType) -> bool:
    """Tell whether ``value`` is a valid CESQL value of ``cesql_type`` (``ANY``: of any type)."""
    if isinstance(value, bool):
        return cesql_type is CesqlType.BOOLEAN or cesql_type is CesqlType.ANY
    if isinstance(value, int):
        in_range = INT32_MIN <= value <= INT32_MAX
        return in_range and (cesql_type is CesqlType.INTEGER or cesql_type is CesqlType.ANY)
    if isinstance(value, str):
        return cesql_type is CesqlType.STRING or cesql_type is CesqlType.ANY
    return False


_CHUNK: Final = 10**1000


def _integer_text(number: int) -> str:
    """Decimal text of any int; str() refuses more than 4,300 digits (int_max_str_digits)."""
    if -_CHUNK < number < _CHUNK:
        return str(number)
    magnitude, chunks = abs(number), []
    while magnitude:
        magnitude, chunk = divmod(magnitude, _CHUNK)
        chunks.append(f"{chunk:01000d}")
    digits = "".join(reversed(chunks)).lstrip("0")
    return f"-{digits}" if number < 0 else digits


def attribute_value(raw: object) -> Value:
    """Represent an event attribute as a CESQL value.

    Booleans, 32-bit integers and strings are kept; anything else is represented
    as a String (spec §3.2), using the CloudEvents canonical string encodings.
    """
    # Subclasses (str/int enums) are reduced to the plain type, so type checks stay exact.
    if isinstance(raw, str):
        return str.__str__(raw)
    if isinstance(raw, bool):
        return bool(raw)
    if isinstance(raw, int):
        # An out-of-range integer is not a CloudEvents Integer; keep its text.
        return int(raw) if INT32_MIN <= raw <= INT32_MAX else _integer_text(int(raw))
    if isinstance(raw, datetime):
        return raw.isoformat()
    if isinstance(raw, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(raw)).decode("ascii")
    return str(raw)
