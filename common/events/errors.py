"""Typed codec errors; each knows its HTTP status and renders a JSON body."""

from __future__ import annotations


class CloudEventError(Exception):
    """A message that is not an acceptable CloudEvent. Never a server fault."""

    status = 400
    code = "invalid_event"

    def __init__(self, detail: str, attribute: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attribute = attribute

    def to_json(self) -> dict[str, str]:
        """The response body: `{"error", "detail"[, "attribute"]}`."""
        body = {"error": self.code, "detail": self.detail}
        if self.attribute is not None:
            body["attribute"] = self.attribute
        return body


class InvalidEvent(CloudEventError):
    """Syntactically or semantically invalid event or batch (400)."""


class UnsupportedFormat(CloudEventError):
    """A CloudEvents media type whose format we do not speak, e.g. `+avro` (415)."""

    status = 415
    code = "unsupported_format"


class PayloadTooLarge(CloudEventError):
    """Body over the configured limit, or a batch with too many events (413)."""

    status = 413
    code = "payload_too_large"
