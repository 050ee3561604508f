"""Response classes of the read API: JSON through orjson (fast, and it embeds
stored JSON data verbatim via orjson.Fragment)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JsonResponse(Response):
    """`application/json` rendered by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
