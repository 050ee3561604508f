"""A token file laid out as the kubelet writes a projected volume: `token` is a
symlink to `..data/token`, `..data` a symlink to a timestamped directory, and a
rotation writes a new directory and swaps `..data` atomically."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

_generation = itertools.count(1)


class ProjectedToken:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "token"

    def write(self, token: str) -> None:
        """Publish `token` the way the kubelet does (a reader never sees half a file)."""
        version = self.directory / f"..2026_12_02_00_00_{next(_generation):02d}"
        version.mkdir()
        (version / "token").write_text(token)
        staging = self.directory / "..data_tmp"
        staging.symlink_to(version.name)
        os.replace(staging, self.directory / "..data")
        if not self.path.is_symlink():
            self.path.symlink_to("..data/token")
