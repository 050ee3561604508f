"""The OpenAPI 3.1 document served at `/openapi.json`, written by hand so that
it states the contract (including every error) rather than mirroring code."""

from __future__ import annotations

from typing import Any

from user.schemas import EVENT_TYPES, schema_for
from user.validation import NAME_MAX, PAGE_DEFAULT, PAGE_MAX, PASSWORD_MAX

_JSON = "application/json"
_NAME_CHAR = "[^\\u0000-\\u001f\\u007f-\\u009f]"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _response(description: str, schema: str | None = None, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, **extra}
    if schema is not None:
        response["content"] = {_JSON: {"schema": _ref(schema)}}
    return response


def _error(description: str) -> dict[str, Any]:
    return _response(description, "Error")


_ERRORS_BODY = {
    "400": _error("The body is not valid JSON (`malformed_json`)."),
    "413": _error("The body is larger than MAX_BODY_BYTES."),
    "415": _error("Content-Type is not application/json (or another `+json` type)."),
    "422": _response("The body does not match the schema.", "ValidationError"),
}
_ERRORS_AUTH = {
    "401": {
        "$ref": "#/components/responses/Unauthorized",
    },
    "403": _error("Authenticated, but not as this user or the administrator."),
    "429": {"$ref": "#/components/responses/TooManyFailedLogins"},
}
_ERROR_503 = {"503": _error("The database is unavailable; retry later.")}
_USER_ID_PARAMETER = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_SECURED: list[dict[str, list[str]]] = [{"basicAuth": []}, {"bearerAuth": []}]


def _create_operation(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": (
            "Open to anyone. Stores the user (the password only as an argon2id hash) "
            "and, in the same transaction, a `user.storeUser` event for K_SINK. "
            "Names are not unique: the returned `id` is the login name."
        ),
        "security": [],
        "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("NewUser")}}},
        "responses": {
            "201": _response(
                "Created.",
                "CreatedUser",
                headers={
                    "Location": {
                        "description": "`/v1/users/{id}` of the new user.",
                        "schema": {"type": "string"},
                    }
                },
            ),
            **_ERRORS_BODY,
            **_ERROR_503,
        },
    }


def openapi_document(base_url: str) -> dict[str, Any]:
    """The whole document; `base_url` is PUBLIC_BASE_URL (for the event schemas)."""
    name = {
        "type": "string",
        "minLength": 1,
        "maxLength": NAME_MAX,
        # Not only whitespace; no control characters.
        "pattern": f"^{_NAME_CHAR}*[^\\s\\u0000-\\u001f\\u007f-\\u009f]{_NAME_CHAR}*$",
        "description": "Any text without control characters; names need not be unique.",
    }
    password = {"type": "string", "minLength": 1, "maxLength": PASSWORD_MAX, "writeOnly": True}
    timestamp = {"type": "string", "format": "date-time"}
    user_id = {"type": "string", "format": "uuid"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "user service",
            "version": "1.0.0",
            "description": (
                "Manages users and publishes CloudEvents (`user.storeUser`, "
                "`user.updateUser`, `user.deleteUser`) through a transactional outbox "
                'to K_SINK. Errors are JSON: `{"error": code, "detail": text}`.'
            ),
        },
        "paths": {
            "/v1/user": {"post": _create_operation("createUser", "Create a user (original path)")},
            "/v1/users": {
                "post": _create_operation("createUserAlias", "Create a user"),
                "get": {
                    "operationId": "listUsers",
                    "summary": "List users (administrator only)",
                    "description": "Creation order; follow `next_cursor` until it is null.",
                    "security": [{"bearerAuth": []}],
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": PAGE_MAX,
                                "default": PAGE_DEFAULT,
                            },
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "description": "`next_cursor` of the previous page.",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": _response("A page of users.", "UserPage"),
                        "400": _error("`limit` or `cursor` is invalid."),
                        **_ERRORS_AUTH,
                        **_ERROR_503,
                    },
                },
            },
            "/v1/users/{user_id}": {
                "parameters": [_USER_ID_PARAMETER],
                "get": {
                    "operationId": "getUser",
                    "summary": "Read a user (the user or the administrator)",
                    "security": _SECURED,
                    "responses": {
                        "200": _response("The user.", "User"),
                        **_ERRORS_AUTH,
                        "404": _error("No such user."),
                        **_ERROR_503,
                    },
                },
                "patch": {
                    "operationId": "updateUser",
                    "summary": "Change name and/or password (the user or the administrator)",
                    "description": (
                        "Publishes `user.updateUser` with the names of the changed fields."
                    ),
                    "security": _SECURED,
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": _ref("UserChanges")}},
                    },
                    "responses": {
                        "200": _response("The updated user.", "User"),
                        **_ERRORS_BODY,
                        **_ERRORS_AUTH,
                        "404": _error("No such user."),
                        **_ERROR_503,
                    },
                },
                "delete": {
                    "operationId": "deleteUser",
                    "summary": "Delete a user (the user or the administrator)",
                    "description": "Publishes `user.deleteUser`.",
                    "security": _SECURED,
                    "responses": {
                        "204": {"description": "Deleted."},
                        **_ERRORS_AUTH,
                        "404": _error("No such user."),
                        **_ERROR_503,
                    },
                },
            },
            "/v1/schemas/{event_type}.json": {
                "get": {
                    "operationId": "getEventSchema",
                    "summary": "JSON Schema of an event type's data (the events' `dataschema`)",
                    "security": [],
                    "parameters": [
                        {
                            "name": "event_type",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(EVENT_TYPES)},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "A JSON Schema (draft 2020-12).",
                            "content": {"application/schema+json": {"schema": {"type": "object"}}},
                        },
                        "404": _error("No such event type."),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": {"description": "Alive."}},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Readiness: database at the schema head, K_SINK set, relay running",
                    "security": [],
                    "responses": {
                        "200": {"description": "Ready."},
                        "503": {"description": "Not ready; `checks` says why."},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "security": [],
                    "responses": {"200": {"description": "Text exposition format."}},
                }
            },
        },
        "webhooks": {
            event_type: {
                "post": {
                    "summary": f"`{event_type}` CloudEvent sent to K_SINK",
                    "description": (
                        "Binary content mode by default (`ce-*` headers), structured with "
                        "EVENT_MODE=structured. At least once; the `id` is stable across retries."
                    ),
                    "requestBody": {
                        "content": {_JSON: {"schema": schema_for(base_url, event_type)}}
                    },
                    "responses": {
                        "2XX": {"description": "Delivered."},
                        "default": {
                            "description": (
                                "408, 429 and 5xx are retried; other answers park the event."
                            )
                        },
                    },
                }
            }
            for event_type in EVENT_TYPES
        },
        "components": {
            "securitySchemes": {
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "Username: the user's id; password: the user's password.",
                },
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "USER_ADMIN_TOKEN: any user, and listing.",
                },
            },
            "responses": {
                "Unauthorized": {
                    "description": "Missing or wrong credentials (one body for every cause).",
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                    "content": {_JSON: {"schema": _ref("Error")}},
                },
                "TooManyFailedLogins": {
                    "description": "Too many failed logins from this IP or for this user id.",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": {_JSON: {"schema": _ref("Error")}},
                },
            },
            "schemas": {
                "NewUser": {
                    "type": "object",
                    "required": ["name", "password"],
                    "additionalProperties": False,
                    "properties": {"name": name, "password": password},
                },
                "UserChanges": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": False,
                    "properties": {"name": name, "password": password},
                },
                "CreatedUser": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {"id": user_id, "name": {"type": "string"}},
                },
                "User": {
                    "type": "object",
                    "required": ["id", "name", "created_at", "updated_at"],
                    "properties": {
                        "id": user_id,
                        "name": {"type": "string"},
                        "created_at": timestamp,
                        "updated_at": timestamp,
                    },
                },
                "UserPage": {
                    "type": "object",
                    "required": ["items", "next_cursor"],
                    "properties": {
                        "items": {"type": "array", "items": _ref("User")},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                },
                "ValidationError": {
                    "type": "object",
                    "required": ["error", "detail", "fields"],
                    "properties": {
                        "error": {"const": "validation_failed"},
                        "detail": {"type": "string"},
                        "fields": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["field", "problem"],
                                "properties": {
                                    "field": {"type": "string"},
                                    "problem": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
