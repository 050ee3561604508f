"""Typed codec errors; each knows its HTTP status and renders a JSON body."""

from __future__ import annotations

MAX_DETAIL = 1000
MAX_ATTRIBUTE = 100


def _printable(text: str, limit: int) -> str:
    """`text` made UTF-8-encodable (lone surrogates become `\\udxxx`) and cut to `limit`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class CloudEventError(Exception):
    """A message that is not an acceptable CloudEvent. Never a server fault."""

    status = 400
    code = "invalid_event"

    def __init__(self, detail: str, attribute: str | None = None) -> None:
        # Names and values come from the client: keep the error body small and
        # encodable (a JSON member name may hold a lone surrogate, which UTF-8
        # cannot encode, so rendering it would turn a 400 into a 500; item 92).
        detail = _printable(detail, MAX_DETAIL)
        super().__init__(detail)
        self.detail = detail
        self.attribute = None if attribute is None else _printable(attribute, MAX_ATTRIBUTE)

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
