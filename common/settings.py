"""Configuration from environment variables (12-factor), validated at start."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SettingsT = TypeVar("SettingsT", bound="ServiceSettings")


class ServiceSettings(BaseSettings):
    """What every service reads. Field names are the variable names, upper-cased."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path(".data")
    database_url: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    reload: bool = False

    def effective_database_url(self, name: str) -> str:
        """`DATABASE_URL`, or a SQLite file `<DATA_DIR>/<name>.db`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (name + '.db')}"


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Build settings or stop with one line naming the offending variable."""
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        print(f"configuration error: {problems}", file=sys.stderr)
        raise SystemExit(2) from None
