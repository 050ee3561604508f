"""The OpenAPI 3.1 document of the audit service (`GET /openapi.json`)."""

from __future__ import annotations

from typing import Any


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
_TIME = {"type": "string", "format": "date-time"}

_FILTERS = [
    _query("type", "Event type (repeat for alternatives).", _STRINGS),
    _query("source", "Event source (repeat for alternatives).", _STRINGS),
    _query("subject", "Event subject (repeat for alternatives).", _STRINGS),
    _query("id", "Event id (repeat for alternatives).", _STRINGS),
    _query("since", "Received at or after (RFC 3339).", _TIME),
    _query("until", "Received before (RFC 3339).", _TIME),
    _query("q", "Case-sensitive substring of the raw data bytes (UTF-8).", _STRING),
]
_ORDER = _query(
    "order",
    "desc: newest first (lists); asc: oldest first.",
    {"type": "string", "enum": ["asc", "desc"]},
)
_PAGING = [
    _query(
        "limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}
    ),
    _query("cursor", "next_cursor of the previous page.", _STRING),
    _ORDER,
]
_KEY = [
    {
        "name": "source",
        "in": "path",
        "required": True,
        "schema": _STRING,
        "description": "Event source, URL-encoded as one path segment (/ as %2F).",
    },
    {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": _STRING,
        "description": "Event id, URL-encoded.",
    },
]


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"description": "Error", "content": _json("Error")} for code in codes}


_EVENT = {
    "type": "object",
    "required": ["seq", "source", "id", "type", "specversion", "attributes", "received_at", "mode"],
    "properties": {
        "seq": {"type": "integer", "description": "The store's monotonic sequence; SSE id."},
        "source": _STRING,
        "id": _STRING,
        "type": _STRING,
        "specversion": _STRING,
        "subject": {"type": ["string", "null"]},
        "time": {"type": ["string", "null"], "description": "The event's time, as received."},
        "datacontenttype": {"type": ["string", "null"]},
        "dataschema": {"type": ["string", "null"]},
        "attributes": {
            "type": "object",
            "description": "Every context attribute, extensions included.",
            "additionalProperties": {"type": ["string", "integer", "boolean"]},
        },
        "data": {"description": "The data as a JSON value when it is JSON, else null."},
        "data_base64": {"type": ["string", "null"], "description": "The raw data bytes."},
        "data_text": {"type": ["string", "null"], "description": "The data as UTF-8 text."},
        "received_at": _TIME,
        "mode": {"type": "string", "enum": ["binary", "structured", "batch"]},
    },
}

_DEAD_LETTER = {
    "allOf": [
        {"$ref": "#/components/schemas/Event"},
        {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "dest": {"type": ["string", "null"], "description": "knativeerrordest"},
                        "code": {"type": ["integer", "null"], "description": "knativeerrorcode"},
                        "data": {
                            "type": ["string", "null"],
                            "description": "knativeerrordata, base64-decoded",
                        },
                        "data_base64": {"type": ["string", "null"]},
                    },
                }
            },
        },
    ]
}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


def _get(
    summary: str, parameters: list[dict[str, Any]], ok: dict[str, Any], *errors: int
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": parameters,
            "responses": {"200": {"description": "OK", "content": ok}, **_errors(401, *errors)},
        }
    }


_NDJSON = {"application/x-ndjson": {"schema": {"type": "string"}}}
_SINK = {
    "summary": "Store CloudEvents (binary, structured or batch mode).",
    "security": [],
    "responses": {
        "202": {"description": "Committed (or already stored); empty body."},
        **_errors(400, 413, 415, 503),
    },
}


def openapi_document() -> dict[str, Any]:
    """The document; read endpoints need the bearer token when one is configured."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "audit",
            "version": "1",
            "description": "Stores CloudEvents durably and lets people read them back.",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/events": _get("List stored events.", _FILTERS + _PAGING, _json("EventPage"), 400),
            "/v1/events/{source}/{id}": _get(
                "One event by source and id.", _KEY, _json("Event"), 404
            ),
            "/v1/events/stream": _get(
                "Live tail (Server-Sent Events, `id:` = seq; resume with Last-Event-ID).",
                [*_FILTERS, _query("last_event_id", "Resume after this seq.", {"type": "integer"})],
                {"text/event-stream": {"schema": {"type": "string"}}},
                400,
                503,
            ),
            "/v1/events/export": _get(
                "NDJSON export of the matching events.", [*_FILTERS, _ORDER], _NDJSON, 400
            ),
            "/v1/dead-letters": _get(
                "List dead letters.", _FILTERS + _PAGING, _json("DeadLetterPage"), 400
            ),
            "/v1/dead-letters/{source}/{id}": _get(
                "The newest dead letter of one event.", _KEY, _json("DeadLetter"), 404
            ),
            "/v1/dead-letters/export": _get(
                "NDJSON export of dead letters.", [*_FILTERS, _ORDER], _NDJSON, 400
            ),
            "/v1/stats": _get("Stored events per type.", [], _json("Stats")),
            "/": {"post": _SINK},
            "/dead-letter": {"post": {**_SINK, "summary": "Knative deadLetterSink."}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Event": _EVENT,
                "DeadLetter": _DEAD_LETTER,
                "EventPage": _page("Event"),
                "DeadLetterPage": _page("DeadLetter"),
                "Stats": {
                    "type": "object",
                    "properties": {
                        "total": {"type": "integer"},
                        "types": {"type": "object", "additionalProperties": {"type": "integer"}},
                        "dead_letters": {"type": "integer"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {"error": _STRING, "detail": _STRING},
                },
            },
        },
    }
