"""`POST /dead-letter`: the Knative deadLetterSink, kept apart from normal events."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx

from tests.integration.audit.helpers import all_items, event, metric, post_binary, post_structured


def _dead(**extensions: object) -> object:
    return event(
        "user.deleteUser",
        subject="u-9",
        knativearrivaltime="2026-11-27T10:00:00Z",
        **extensions,
    )


def test_a_dead_letter_keeps_the_knative_error_details_apart_from_events(
    client: httpx.Client,
) -> None:
    body = b'{"error":"database is down"}'
    ce = _dead(
        knativeerrordest="http://audit.user-audit.svc.cluster.local/",
        knativeerrorcode="503",
        knativeerrordata=base64.b64encode(body).decode(),
    )

    response = post_binary(client, ce, path="/dead-letter")

    assert response.status_code == 202
    assert response.content == b""
    assert all_items(client) == []
    [letter] = all_items(client, "/v1/dead-letters")
    assert letter["id"] == ce.id
    assert letter["attributes"]["knativeerrorcode"] == "503"
    assert letter["attributes"]["knativearrivaltime"] == "2026-11-27T10:00:00Z"
    assert letter["error"] == {
        "dest": "http://audit.user-audit.svc.cluster.local/",
        "code": 503,
        "data": body.decode(),
        "data_base64": base64.b64encode(body).decode(),
    }
    one = client.get(f"/v1/dead-letters/{quote(ce.source, safe='')}/{quote(ce.id, safe='')}")
    assert one.status_code == 200
    assert one.json()["error"]["code"] == 503
    assert metric(client, "audit_dead_letters_received_total") == 1


def test_error_data_cut_by_the_broker_or_sent_raw_is_still_shown(client: httpx.Client) -> None:
    long_body = ("é" * 700).encode()
    cut = base64.b64encode(long_body).decode()[:1023]
    post_structured(client, _dead(knativeerrordata=cut, knativeerrorcode=500), path="/dead-letter")
    post_binary(client, _dead(knativeerrordata="plain text, not base64"), path="/dead-letter")

    by_code = {
        item["error"]["code"]: item["error"] for item in all_items(client, "/v1/dead-letters")
    }

    assert by_code[500]["data"].startswith("é" * 300)
    assert by_code[None]["data"] == "plain text, not base64"


def test_a_redelivered_dead_letter_is_stored_once_but_another_destination_is_kept(
    client: httpx.Client,
) -> None:
    ce = _dead(knativeerrordest="http://a/", knativeerrorcode="500")

    assert post_binary(client, ce, path="/dead-letter").status_code == 202
    assert post_binary(client, ce, path="/dead-letter").status_code == 202
    other_trigger = ce.with_attributes(knativeerrordest="http://b/")
    assert post_binary(client, other_trigger, path="/dead-letter").status_code == 202

    letters = all_items(client, "/v1/dead-letters")
    assert sorted(item["error"]["dest"] for item in letters) == ["http://a/", "http://b/"]
    assert metric(client, "audit_events_duplicate_total", kind="dead_letters") == 1


def test_an_invalid_dead_letter_gets_400(client: httpx.Client) -> None:
    response = client.post("/dead-letter", headers={"ce-id": "x"}, content=b"")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_event"


def test_an_error_code_that_is_no_status_is_kept_as_text_only(client: httpx.Client) -> None:
    odd = [_dead(knativeerrorcode=code) for code in ("99999999999", "²", "5xx")]
    for ce in odd:
        assert post_binary(client, ce, path="/dead-letter").status_code == 202

    letters = all_items(client, "/v1/dead-letters")

    assert [item["error"]["code"] for item in letters] == [None, None, None]
    assert sorted(item["attributes"]["knativeerrorcode"] for item in letters) == sorted(
        ["99999999999", "²", "5xx"]
    )
