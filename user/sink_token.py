"""The bearer token the relay presents to K_SINK (`RELAY_TOKEN_FILE`).

On a cluster with Knative's `authentication-oidc` feature the Broker ingress wants
a service-account token whose audience is the Broker. The kubelet writes one into a
projected volume and replaces it before it expires (it swaps a symlink, so the
file's identity changes); the token is read again whenever that happens.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class TokenUnavailable(Exception):
    """The token file is missing, unreadable or empty (retry: the kubelet may be
    writing it)."""


class TokenFile:
    """A token kept in a file that is replaced when the token rotates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int, int] | None = None
        self._token = ""

    def read(self) -> str:
        """The current token: cached while the file stays the same, re-read when not."""
        try:
            info = os.stat(self.path)
            # Inode and device change on the kubelet's symlink swap, mtime on a rewrite.
            seen = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)
            with self._lock:
                if seen != self._seen:
                    self._token = self.path.read_text(encoding="utf-8").strip()
                    self._seen = seen
                token = self._token
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenUnavailable(f"cannot read RELAY_TOKEN_FILE {self.path}: {exc}") from exc
        if not token:
            raise TokenUnavailable(f"RELAY_TOKEN_FILE {self.path} is empty")
        return token
