"""Validating request bodies and parameters into plain values (no HTTP here
beyond the ApiError each failure becomes: 422 for bodies, 400 for parameters)."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from common.web.errors import ApiError

NAME_MAX = 200
PASSWORD_MAX = 1024
PAGE_DEFAULT = 50
PAGE_MAX = 500

# C0/C1 controls and lone surrogates: nothing a name needs, and PostgreSQL cannot
# store U+0000 or a surrogate at all.
_FORBIDDEN_IN_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    problem: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem}


def validation_error(problems: list[FieldProblem]) -> ApiError:
    summary = "; ".join(f"{p.field}: {p.problem}" for p in problems)
    return ApiError(
        422,
        "validation_failed",
        summary,
        fields=[p.to_json() for p in problems],
    )


@dataclass(frozen=True, slots=True)
class NewUser:
    name: str
    password: str


@dataclass(frozen=True, slots=True)
class UserChanges:
    name: str | None
    password: str | None

    @property
    def changed(self) -> list[str]:
        """Names (never values) of the fields this change sets, in a fixed order."""
        return [
            field
            for field, value in (("name", self.name), ("password", self.password))
            if value is not None
        ]


def _check_name(value: Any, problems: list[FieldProblem]) -> str | None:
    if not isinstance(value, str):
        problems.append(FieldProblem("name", "must be a string"))
        return None
    if not value.strip():
        problems.append(FieldProblem("name", "must not be empty"))
    elif len(value) > NAME_MAX:
        problems.append(FieldProblem("name", f"must be at most {NAME_MAX} characters"))
    elif _FORBIDDEN_IN_NAME.search(value):
        problems.append(FieldProblem("name", "must not contain control characters"))
    else:
        return value
    return None


def _check_password(value: Any, min_length: int, problems: list[FieldProblem]) -> str | None:
    # Problems never echo the value.
    if not isinstance(value, str):
        problems.append(FieldProblem("password", "must be a string"))
        return None
    if len(value) < min_length:
        problems.append(
            FieldProblem(
                "password",
                "must not be empty"
                if min_length == 1
                else f"must be at least {min_length} characters",
            )
        )
    elif len(value) > PASSWORD_MAX:
        problems.append(FieldProblem("password", f"must be at most {PASSWORD_MAX} characters"))
    elif _SURROGATE.search(value):
        problems.append(FieldProblem("password", "must be valid Unicode text"))
    else:
        return value
    return None


def _object(body: Any, allowed: tuple[str, ...]) -> tuple[dict[str, Any], list[FieldProblem]]:
    if not isinstance(body, dict):
        raise validation_error([FieldProblem("(body)", "must be a JSON object")])
    unknown = [key for key in body if key not in allowed]
    # Echo a bounded amount: the names may be arbitrary client text.
    problems = [FieldProblem(key[:64], "is not a known field") for key in unknown[:10]]
    return body, problems


def parse_new_user(body: Any, password_min_length: int) -> NewUser:
    """`{"name": str, "password": str}`, nothing else."""
    document, problems = _object(body, ("name", "password"))
    name = password = None
    if "name" in document:
        name = _check_name(document["name"], problems)
    else:
        problems.append(FieldProblem("name", "is required"))
    if "password" in document:
        password = _check_password(document["password"], password_min_length, problems)
    else:
        problems.append(FieldProblem("password", "is required"))
    if problems or name is None or password is None:
        raise validation_error(problems)
    return NewUser(name, password)


def parse_user_changes(body: Any, password_min_length: int) -> UserChanges:
    """`{"name"?: str, "password"?: str}` with at least one of them."""
    document, problems = _object(body, ("name", "password"))
    name = password = None
    if "name" in document:
        name = _check_name(document["name"], problems)
    if "password" in document:
        password = _check_password(document["password"], password_min_length, problems)
    if not problems and "name" not in document and "password" not in document:
        problems.append(FieldProblem("(body)", "set name and/or password"))
    if problems:
        raise validation_error(problems)
    return UserChanges(name, password)


def canonical_user_id(text: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of a UUID, or None if it is not one."""
    try:
        return str(uuid.UUID(text)) if len(text) == 36 else None
    except ValueError:
        return None


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return PAGE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise ApiError(
            400,
            "invalid_parameter",
            f"limit must be an integer from 1 to {PAGE_MAX}",
            parameter="limit",
        )
    return int(raw)


def encode_cursor(key: tuple[datetime, str]) -> str:
    created_at, user_id = key
    raw = orjson.dumps([created_at.isoformat(), user_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_cursor(raw: str | None) -> tuple[datetime, str] | None:
    """The key a previous page returned as `next_cursor`; 400 if it is not one."""
    if raw is None or raw == "":
        return None
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        created_text, user_id = decoded
        if not isinstance(created_text, str) or not isinstance(user_id, str):
            raise ValueError("bad cursor")
        created_at = datetime.fromisoformat(created_text)
        if created_at.tzinfo is None or canonical_user_id(user_id) != user_id:
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ApiError(
            400, "invalid_parameter", "cursor is not one this service returned", parameter="cursor"
        ) from None
    return created_at, user_id
