"""A private PostgreSQL server for tests (Debian's binaries), or `PG_TEST_DSN`.

A private server lets tests create throwaway databases and stop/start the
server under load. As root, the server runs as the `postgres` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from devstack import free_port

_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _pg_bin(name: str) -> str | None:
    for directory in _BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


def postgres_available() -> bool:
    return bool(os.environ.get("PG_TEST_DSN")) or _pg_bin("initdb") is not None


class PostgresServer:
    """initdb + pg_ctl on a free loopback port, trust auth, data in a temp dir."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data = self.root / "data"
        self.user: str | None = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def init(self) -> PostgresServer:
        initdb = _pg_bin("initdb")
        assert initdb, "PostgreSQL's initdb is not installed"
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        return self

    def start(self) -> None:
        pg_ctl = _pg_bin("pg_ctl")
        assert pg_ctl
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c max_connections=300 -c fsync=on"
        )
        self._run(
            pg_ctl,
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        pg_ctl = _pg_bin("pg_ctl")
        assert pg_ctl
        self._run(pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self) -> str:
        """A fresh empty database; returns its SQLAlchemy URL (asyncpg driver)."""
        name = "t_" + uuid.uuid4().hex[:16]
        psql = _pg_bin("psql") or "psql"
        subprocess.run(
            [psql, self.admin_dsn, "-q", "-c", f'CREATE DATABASE "{name}"'],
            check=True,
            capture_output=True,
        )
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"


def create_database_from_dsn(dsn: str) -> str:
    """With `PG_TEST_DSN` (an admin connection): a fresh database on that server."""
    name = "t_" + uuid.uuid4().hex[:16]
    psql = _pg_bin("psql") or "psql"
    subprocess.run(
        [psql, dsn, "-q", "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True
    )
    base, _, _ = dsn.rpartition("/")
    return base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
