"""Spec §3.5 and §3.5.3: overload rules and user-defined functions."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cesql import (
    CesqlType,
    Function,
    FunctionRegistry,
    FunctionResult,
    Value,
    builtin_functions,
    compile_expression,
)

from .support import event, kinds

STRING, INTEGER, BOOLEAN = CesqlType.STRING, CesqlType.INTEGER, CesqlType.BOOLEAN


def _constant(result: object) -> Function:
    def implementation(args: Sequence[Value]) -> FunctionResult:
        return result, None  # type: ignore[return-value]  # deliberately wrong types too

    return Function("ABC", (), INTEGER, implementation)


def _echo(args: Sequence[Value]) -> FunctionResult:
    return len(args), None


def test_variadic_overload_needs_more_fixed_parameters_than_other_arities() -> None:
    registry = FunctionRegistry()
    registry.register(Function("ABC", (STRING,), INTEGER, _echo))
    registry.register(Function("ABC", (STRING, STRING), INTEGER, _echo))
    registry.register(Function("ABC", (STRING, STRING, STRING), INTEGER, _echo, variadic=STRING))
    assert registry.resolve("abc", 1) is not None
    assert registry.resolve("abc", 5) is not None
    assert registry.resolve("abc", 0) is None


def test_variadic_overload_that_could_shadow_a_fixed_one_is_rejected() -> None:
    registry = FunctionRegistry([Function("ABC", (STRING, STRING, STRING), INTEGER, _echo)])
    with pytest.raises(ValueError, match="variadic"):
        registry.register(Function("ABC", (), INTEGER, _echo, variadic=STRING))
    variadic = FunctionRegistry([Function("ABC", (STRING,), INTEGER, _echo, variadic=STRING)])
    with pytest.raises(ValueError, match="clashes"):
        variadic.register(Function("ABC", (STRING, STRING), INTEGER, _echo))


def test_same_name_and_arity_is_rejected() -> None:
    registry = FunctionRegistry([Function("ABC", (STRING,), INTEGER, _echo)])
    with pytest.raises(ValueError, match="already"):
        registry.register(Function("abc", (INTEGER,), STRING, _echo))


@pytest.mark.parametrize("name", ["1ABC", "A-B", "_A", ""])
def test_invalid_function_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="invalid function name"):
        FunctionRegistry([Function(name, (), INTEGER, _echo)])


def test_user_defined_function_is_callable_and_case_insensitive() -> None:
    registry = builtin_functions()
    registry.register(Function("count_args", (), INTEGER, _echo, variadic=CesqlType.ANY))
    expression = compile_expression("Count_Args(1, 'a', TRUE) + LENGTH('x')", functions=registry)
    assert expression.evaluate(event()).value == 4


def test_builtin_registry_is_not_changed_by_a_copy() -> None:
    registry = builtin_functions().copy()
    registry.register(Function("EXTRA", (), INTEGER, _echo))
    assert kinds(compile_expression("EXTRA()").evaluate(event())) == ["missingFunction"]


@pytest.mark.parametrize("bad", [1.5, "text", None, 2**40, True])
def test_user_function_returning_a_wrong_value_gives_zero_and_an_error(bad: object) -> None:
    registry = FunctionRegistry([_constant(bad)])
    result = compile_expression("ABC()", functions=registry).evaluate(event())
    assert result.value == 0
    assert kinds(result) == ["functionEvaluation"]


def test_user_function_that_raises_gives_zero_and_an_error() -> None:
    def broken(args: Sequence[Value]) -> FunctionResult:
        raise RuntimeError("boom")

    registry = FunctionRegistry([Function("BROKEN", (STRING,), STRING, broken)])
    result = compile_expression("BROKEN('a')", functions=registry).evaluate(event())
    assert result.value == ""
    assert kinds(result) == ["functionEvaluation"]
    assert "boom" in str(result.errors[0])
