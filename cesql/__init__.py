"""CloudEvents SQL (CESQL) v1: parse an expression once, evaluate it against events.

    >>> expression = compile_expression("type LIKE 'user.%' AND EXISTS subject")
    >>> expression.matches({"type": "user.storeUser", "subject": "42"})
    True
    >>> expression.evaluate({"type": "user.storeUser"}).value
    False

Spec: https://github.com/cloudevents/spec/blob/main/cesql/spec.md (v1.0.0).
"""

from .errors import (
    CastError,
    CesqlError,
    CesqlEvaluationError,
    CesqlParseError,
    FunctionEvaluationError,
    GenericError,
    MathError,
    MissingAttributeError,
    MissingFunctionError,
)
from .expression import EvaluationResult, Expression, compile_expression
from .functions import (
    Function,
    FunctionImplementation,
    FunctionRegistry,
    FunctionResult,
    builtin_functions,
)
from .values import CesqlType, Value

__all__ = [
    "CastError",
    "CesqlError",
    "CesqlEvaluationError",
    "CesqlParseError",
    "CesqlType",
    "EvaluationResult",
    "Expression",
    "Function",
    "FunctionEvaluationError",
    "FunctionImplementation",
    "FunctionRegistry",
    "FunctionResult",
    "GenericError",
    "MathError",
    "MissingAttributeError",
    "MissingFunctionError",
    "Value",
    "builtin_functions",
    "compile_expression",
]
