"""The relay presents a bearer token from RELAY_TOKEN_FILE to K_SINK, as the Broker
ingress wants with Knative's `authentication-oidc` on, and follows its rotation."""

from __future__ import annotations

from pathlib import Path

from tests.integration.user.conftest import StartUser
from tests.integration.user.support import create_user, drained, eventually, outbox_rows
from tests.support.projected_token import ProjectedToken
from tests.support.sink import CloudEventSink, Delivery


def authorization(delivery: Delivery) -> str | None:
    return next((v for k, v in delivery.headers if k.lower() == "authorization"), None)


def test_each_send_carries_the_current_projected_token(
    start_user: StartUser, sink: CloudEventSink, tmp_path: Path, database_url: str
) -> None:
    projected = ProjectedToken(tmp_path / "kube-api-access")
    projected.write("token-before-rotation")
    service = start_user(RELAY_TOKEN_FILE=str(projected.path))

    create_user(service.url, name="Ozzy")
    (first,) = sink.wait_for_deliveries(1)
    assert authorization(first) == "Bearer token-before-rotation"

    projected.write("token-after-rotation")
    create_user(service.url, name="Sharon")
    second = sink.wait_for_deliveries(2)[1]
    assert authorization(second) == "Bearer token-after-rotation"
    eventually(lambda: drained(database_url), what="outbox drained")


def test_without_a_token_file_no_authorization_is_sent(
    start_user: StartUser, sink: CloudEventSink
) -> None:
    service = start_user()
    create_user(service.url)
    (delivery,) = sink.wait_for_deliveries(1)
    assert authorization(delivery) is None


def test_a_missing_token_file_holds_events_until_it_appears(
    start_user: StartUser, sink: CloudEventSink, tmp_path: Path, database_url: str
) -> None:
    projected = ProjectedToken(tmp_path / "kube-api-access")
    service = start_user(RELAY_TOKEN_FILE=str(projected.path))
    create_user(service.url)
    eventually(
        lambda: [r for r in outbox_rows(database_url) if r["attempts"] >= 2],
        what="retries while the token file is missing",
    )
    assert sink.deliveries == []
    projected.write("late-token")
    (delivery,) = sink.wait_for_deliveries(1)
    assert authorization(delivery) == "Bearer late-token"
    eventually(lambda: drained(database_url), what="outbox drained")


def test_a_401_is_retried_with_the_rotated_token_not_parked(
    start_user: StartUser, sink: CloudEventSink, tmp_path: Path, database_url: str
) -> None:
    projected = ProjectedToken(tmp_path / "kube-api-access")
    projected.write("expired-token")
    service = start_user(RELAY_TOKEN_FILE=str(projected.path))
    sink.respond(401, times=1)
    create_user(service.url)
    (refused,) = sink.wait_for_deliveries(1)
    assert authorization(refused) == "Bearer expired-token"
    projected.write("fresh-token")
    accepted = sink.wait_for_deliveries(2)[1]
    assert authorization(accepted) == "Bearer fresh-token"
    assert accepted.status == 202
    eventually(lambda: drained(database_url), what="outbox drained")
    assert [row["status"] for row in outbox_rows(database_url)] == ["delivered"]
