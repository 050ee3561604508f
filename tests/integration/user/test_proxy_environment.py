"""The relay talks to K_SINK directly: proxy variables in its environment (set for
something else in the pod, or left over in a shell) do not reroute its events."""

from __future__ import annotations

import pytest

from devstack import free_port
from tests.integration.user.conftest import StartUser
from tests.integration.user.support import create_user, drained, eventually
from tests.support.sink import CloudEventSink


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_relay_ignores_proxy_variables(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    service = start_user(
        HTTP_PROXY=dead_proxy,
        HTTPS_PROXY=dead_proxy,
        ALL_PROXY=dead_proxy,
        http_proxy=dead_proxy,
        https_proxy=dead_proxy,
        all_proxy=dead_proxy,
        NO_PROXY="",
        no_proxy="",
    )
    user = create_user(service.url)
    (event,) = sink.wait_for_events(1, timeout=15)
    assert event.attributes["subject"] == user["id"]
    eventually(lambda: drained(database_url), what="outbox drained")
