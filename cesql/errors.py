"""CESQL error types (spec §3.3): one parse error, six evaluation error kinds."""

from __future__ import annotations

from typing import ClassVar


class CesqlError(Exception):
    """Base class of every CESQL error; ``kind`` names the spec error type."""

    kind: ClassVar[str] = "generic"

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} (at position {self.position})"


class CesqlParseError(CesqlError):
    """The expression text is not valid CESQL (spec ParseError).

    ``position`` is the 0-based character offset in the expression text.
    """

    kind = "parse"
    position: int

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)


class CesqlEvaluationError(CesqlError):
    """An error collected while evaluating an expression; the value is still defined.

    ``position`` is the offset of the subexpression that raised it.
    """


class GenericError(CesqlEvaluationError):
    """Any evaluation error not covered by a more specific kind."""

    kind = "generic"


class MathError(CesqlEvaluationError):
    """Division by zero or a result outside the 32-bit Integer range."""

    kind = "math"


class CastError(CesqlEvaluationError):
    """A value could not be cast to the type an operator or function needs."""

    kind = "cast"


class MissingAttributeError(CesqlEvaluationError):
    """The expression addresses an attribute that the event does not have."""

    kind = "missingAttribute"

    def __init__(self, attribute: str, position: int | None = None) -> None:
        super().__init__(f"missing attribute {attribute!r}", position)
        self.attribute = attribute


class MissingFunctionError(CesqlEvaluationError):
    """No function with this name accepts this number of arguments."""

    kind = "missingFunction"

    def __init__(self, name: str, arity: int, position: int | None = None) -> None:
        plural = "" if arity == 1 else "s"
        super().__init__(f"no function {name} taking {arity} argument{plural}", position)
        self.name = name
        self.arity = arity


class FunctionEvaluationError(CesqlEvaluationError):
    """A function was called with arguments outside its domain, or failed."""

    kind = "functionEvaluation"
