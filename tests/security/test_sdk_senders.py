"""Real CloudEvents senders against a real audit process: the official JavaScript SDK
(npm `cloudevents`, through its own HTTP emitter, run by node) and the official Python
SDK. The JavaScript SDK does not percent-encode header values, so `a b%c` arrives as
`ce-myext: a b%c`: a `%` that HTTP binding §3.1.3.2 gives no meaning is kept as text
(and counted), while what the spec does define stays strict.

The JavaScript SDK is installed by `hack/install-test-tools.sh` (version pinned in
`hack/versions.env`) under `.tools/ci/npm`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from devstack import REPO, ServiceProcess
from tests.integration.audit.helpers import audit_process, metric

NODE_MODULES = REPO / ".tools" / "ci" / "npm" / "node_modules"
SENDER = REPO / "tests" / "support" / "js" / "send_with_cloudevents_sdk.js"
SOURCE = "/security/sdk-senders"
# Extension values a person types; none is percent-encoded by the JavaScript SDK.
EXTENSIONS = {
    "spaced": "a b%c",
    "discount": "100%",
    "sentence": "50% off, today only",
    "lone": "%",
    "plain": "nothing to encode",
}


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[ServiceProcess]:
    service = audit_process(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}").start()
    yield service
    service.stop()


def node_sender() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "cloudevents" / "package.json").is_file():
        pytest.skip("node or the JavaScript CloudEvents SDK is missing: hack/install-test-tools.sh")
    return node


def send_with_js_sdk(sink: str, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    completed = subprocess.run(
        [node_sender(), str(SENDER), sink],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    assert completed.returncode == 0, completed.stderr
    results: list[dict[str, Any]] = json.loads(completed.stdout)
    return results


def stored(client: httpx.Client, event_id: str) -> Any:
    response = client.get(f"/v1/events/{quote(SOURCE, safe='')}/{quote(event_id, safe='')}")
    assert response.status_code == 200, response.text
    return response.json()


def test_events_the_javascript_sdk_sends_are_stored_with_their_values(
    audit: ServiceProcess,
) -> None:
    jobs = [
        {
            "mode": mode,
            "event": {
                "id": f"js-{mode}",
                "source": SOURCE,
                "type": "sdk.javascript",
                "subject": "order 7 at 100%",
                "datacontenttype": "application/json",
                "data": {"n": 1},
                **EXTENSIONS,
            },
        }
        for mode in ("binary", "structured")
    ]
    with httpx.Client(base_url=audit.url, timeout=30) as client:
        counted_before = metric(client, "cloudevents_header_literal_percent_total")

        results = send_with_js_sdk(audit.url + "/", jobs)

        binary_headers = results[0]["headers"]
        assert binary_headers["ce-spaced"] == "a b%c", "the SDK now encodes: update this test"
        assert [result["body"] for result in results] == ["", ""]  # 202: an empty body
        for mode in ("binary", "structured"):
            event = stored(client, f"js-{mode}")
            assert event["mode"] == mode
            assert event["subject"] == "order 7 at 100%"
            assert {name: event["attributes"][name] for name in EXTENSIONS} == EXTENSIONS
            assert event["data"] == {"n": 1}
        # binary only: subject, spaced, discount, sentence, lone
        literal = metric(client, "cloudevents_header_literal_percent_total") - counted_before
        assert literal == 5


def test_what_the_spec_defines_stays_strict_for_javascript_senders_too(
    audit: ServiceProcess,
) -> None:
    jobs = [
        {
            "mode": "binary",
            "event": {
                "id": "js-encoded-looking",
                "source": SOURCE,
                "type": "sdk.javascript",
                "looks": "a%41",  # sent as is; §3.1.3.2 says decode: stored as "aA"
                "data": {"n": 1},  # the SDK's transport cannot send an event without data
            },
        },
        {
            "mode": "binary",
            "event": {
                "id": "js-overlong",
                "source": SOURCE,
                "type": "sdk.javascript",
                "overlong": "%C0%A0",  # an overlong UTF-8 form: §3.1.3.2 says reject
                "data": {"n": 1},
            },
        },
    ]
    with httpx.Client(base_url=audit.url, timeout=30) as client:
        results = send_with_js_sdk(audit.url + "/", jobs)

        assert results[0]["body"] == ""
        assert stored(client, "js-encoded-looking")["attributes"]["looks"] == "aA"
        refused = json.loads(results[1]["body"])
        assert (refused["error"], refused["attribute"]) == ("invalid_event", "overlong")


def test_events_the_python_sdk_sends_are_stored_with_their_values(
    audit: ServiceProcess,
) -> None:
    with httpx.Client(base_url=audit.url, timeout=30) as client:
        for mode, encode in (("binary", to_binary_event), ("structured", to_structured_event)):
            event = SdkEvent(
                {
                    "specversion": "1.0",
                    "id": f"py-{mode}",
                    "source": SOURCE,
                    "type": "sdk.python",
                    "subject": "order 7 at 100%",
                    "datacontenttype": "application/json",
                    **EXTENSIONS,
                },
                {"n": 1},
            )
            message = encode(event)

            response = client.post("/", headers=dict(message.headers), content=message.body)

            assert response.status_code == 202, response.text
            got = stored(client, f"py-{mode}")
            assert got["subject"] == "order 7 at 100%"
            assert {name: got["attributes"][name] for name in EXTENSIONS} == EXTENSIONS
            assert got["data"] == {"n": 1}
