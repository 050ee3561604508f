"""The original tutorial's Python receiver: Flask + the SDK's `from_http`, run with `app.run`.

Ported only as far as SDK 2.x requires (`cloudevents.http` -> `cloudevents.v1.http`).
It runs the way the tutorial and the SDK's own sample run it: Flask's built-in
server (threaded, one thread per connection, access log to stderr), printing each
event. `GET /healthz` is the one addition, so the harness knows when it is up.
"""

from __future__ import annotations

import os

from cloudevents.v1.http import from_http
from flask import Flask, request

app = Flask(__name__)


@app.route("/", methods=["POST"])
def home() -> tuple[str, int]:
    event = from_http(request.headers, request.get_data())
    print(
        f"Found {event['id']} from {event['source']} with type "
        f"{event['type']} and specversion {event['specversion']}"
    )
    return "", 204


@app.route("/healthz", methods=["GET"])
def healthz() -> tuple[str, int]:
    return "ok", 200


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8080")))
