"""The relay's token file: read once, read again only when the kubelet replaces it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.projected_token import ProjectedToken
from user.sink_token import TokenFile, TokenUnavailable


def test_a_rotated_projected_token_is_read_again(tmp_path: Path) -> None:
    projected = ProjectedToken(tmp_path / "tokens")
    projected.write("token-one\n")
    token = TokenFile(projected.path)
    assert token.read() == "token-one"
    projected.write("token-two")
    assert token.read() == "token-two"


def test_a_token_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("short")
    token = TokenFile(path)
    assert token.read() == "short"
    path.write_text("a-longer-token")
    assert token.read() == "a-longer-token"


@pytest.mark.parametrize("content", [None, "", "  \n"])
def test_a_missing_or_empty_token_file_is_unavailable(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TokenUnavailable, match="RELAY_TOKEN_FILE"):
        TokenFile(path).read()
