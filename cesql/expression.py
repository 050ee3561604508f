"""The compiled-expression API: compile once, evaluate against many events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import CesqlEvaluationError, GenericError
from .evaluator import MISSING, Abort, ErrorSink, compile_tree
from .functions import DEFAULT_FUNCTIONS, FunctionRegistry
from .nodes import Node
from .parser import parse
from .values import Value, zero_value


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """The two outputs of an evaluation (spec §1): a value and the errors raised."""

    value: Value
    errors: tuple[CesqlEvaluationError, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no error occurred."""
        return not self.errors


class Expression:
    """A parsed and compiled CESQL expression; safe to share between threads."""

    __slots__ = ("_evaluator", "_type", "text", "tree")

    def __init__(self, text: str, tree: Node, functions: FunctionRegistry) -> None:
        self.text = text
        self.tree = tree
        self._evaluator, self._type = compile_tree(tree, functions)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate(self, event: Mapping[str, object], *, fail_fast: bool = False) -> EvaluationResult:
        """Evaluate against ``event`` (attribute name -> value); never raises for bad data.

        Complete-evaluation mode (the default) continues after errors and returns
        the computed value with every error. Fail-fast mode (spec §4.1) stops at
        the first error and returns the zero value of the expression's type.
        """
        sink = ErrorSink(fail_fast=fail_fast)
        try:
            value = self._evaluator(event, sink)
        except Abort as abort:
            return EvaluationResult(zero_value(self._type), (abort.error,))
        except Exception as exc:  # a defect must still be an error value (spec §3.3)
            return EvaluationResult(zero_value(self._type), (_unexpected(exc),))
        if value is MISSING:
            value = zero_value(None)  # a bare missing attribute: Boolean false (spec §3.2)
        return EvaluationResult(value, tuple(sink.errors))

    def matches(self, event: Mapping[str, object]) -> bool:
        """Filter semantics (spec §1.2): True only for a Boolean ``true`` with no error."""
        sink = ErrorSink(fail_fast=True)
        try:
            return self._evaluator(event, sink) is True
        except Abort:
            return False
        except Exception:  # a defect must still be "no match", never a failed request
            return False


def _unexpected(exc: Exception) -> GenericError:
    return GenericError(f"evaluation failed: {type(exc).__name__}")


def compile_expression(text: str, *, functions: FunctionRegistry | None = None) -> Expression:
    """Parse and compile CESQL ``text``.

    ``functions`` replaces the built-in function registry (e.g. a copy of
    :func:`builtin_functions` with user-defined functions added). Raises
    :class:`CesqlParseError` with the offending position if ``text`` is not valid.
    """
    registry = DEFAULT_FUNCTIONS if functions is None else functions
    return Expression(text, parse(text), registry)
