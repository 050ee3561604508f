"""The read token check."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from audit.auth import ReadAuth, bearer_token
from common.web.errors import ApiError


def _request(authorization: str | None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_bearer_token_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(_request(header)) == token


def test_without_a_configured_token_everyone_may_read() -> None:
    auth = ReadAuth(None)

    auth.check(_request(None))
    assert not auth.required


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", "Bearer s3cret-but-longer", "Basic s3cret"]
)
def test_a_missing_or_wrong_token_is_401(header: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        ReadAuth("s3cret").check(_request(header))

    assert caught.value.status == 401
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer realm="audit"'}


def test_the_right_token_passes() -> None:
    ReadAuth("s3cret").check(_request("Bearer s3cret"))
