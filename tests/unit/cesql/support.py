"""Helpers shared by the CESQL unit tests."""

from __future__ import annotations

from collections.abc import Mapping

from cesql import EvaluationResult, Value, compile_expression

REQUIRED: Mapping[str, object] = {
    "specversion": "1.0",
    "id": "event-1",
    "source": "https://example.com/users",
    "type": "user.storeUser",
}


def event(**attributes: object) -> dict[str, object]:
    """A valid event: the REQUIRED attributes plus ``attributes``."""
    return {**REQUIRED, **attributes}


def run(text: str, *, fail_fast: bool = False, **attributes: object) -> EvaluationResult:
    """Compile ``text`` and evaluate it against ``event(**attributes)``."""
    return compile_expression(text).evaluate(event(**attributes), fail_fast=fail_fast)


def value(text: str, **attributes: object) -> Value:
    """The value of an expression that must evaluate without errors."""
    result = compile_expression(text).evaluate(event(**attributes))
    assert result.errors == (), result.errors
    return result.value


def kinds(result: EvaluationResult) -> list[str]:
    """The error kinds of a result, in order."""
    return [error.kind for error in result.errors]


def typed(item: object) -> tuple[type, object]:
    """Type-strict comparison key: True is not 1 and '1' is not 1."""
    return type(item), item
