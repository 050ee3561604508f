"""Search what the system wrote for secrets it must never write: passwords, tokens.

Any suite can use it (chaos, e2e, security):

    secrets = SecretSet()                      # remembers what to look for
    password = secrets.password("alice")       # a distinctive password to use in requests
    secrets.add("admin token", stack.user_admin_token)
    ...run the scenario, wait until the events are in audit...
    assert_clean(scan_local_stack(stack, secrets))  # logs, data files, audit exports
    # or piece by piece, for anything else that wrote something:
    hits = scan_paths([log_dir, data_dir], secrets)     # files and directories
    hits += scan_postgres(server.admin_dsn, secrets, databases=[url, ...])  # pg_dump
    hits += scan_http(client, f"{audit}/v1/events/export", secrets, headers=...)
    assert_clean(hits)

A secret counts as found in any of the forms it could leak in: as is (UTF-8), JSON-escaped,
URL-encoded, hex, and base64 / base64url at each of the three alignments (an HTTP Basic
header or a base64-encoded event body holds `user:password` encoded, with the password
starting anywhere). Reports name the secret's label and the place, never the secret.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as _random
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from devstack import LocalStack

#: Shorter needles would match by chance in binary files.
MIN_SECRET_LENGTH = 8


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence: which secret (by label), in which form, where."""

    label: str
    form: str
    where: str
    offset: int

    def __str__(self) -> str:
        return f"{self.label} ({self.form}) in {self.where} at byte {self.offset}"


def _base64_cores(raw: bytes) -> dict[str, bytes]:
    """The part of base64(x + raw + y) that depends on `raw` alone, for each of the three
    positions `raw` can start at relative to a 3-byte group."""
    cores: dict[str, bytes] = {}
    for lead in range(3):
        padded = b"\0" * lead + raw
        encoded = base64.b64encode(padded)
        first_group = -(-lead // 3)  # groups untouched by the lead bytes
        last_group = len(padded) // 3  # groups not touched by what follows
        core = encoded[first_group * 4 : last_group * 4]
        if len(core) >= MIN_SECRET_LENGTH:
            cores[f"base64@{lead}"] = core
            urlsafe = core.replace(b"+", b"-").replace(b"/", b"_")
            if urlsafe != core:
                cores[f"base64url@{lead}"] = urlsafe
    return cores


def variants(secret: str) -> dict[str, bytes]:
    """Every byte form in which `secret` is looked for, by form name."""
    raw = secret.encode("utf-8")
    forms: dict[str, bytes] = {"plain": raw}
    forms["json"] = json.dumps(secret)[1:-1].encode("ascii")
    forms["url"] = urllib.parse.quote(secret, safe="").encode("ascii")
    forms["url+"] = urllib.parse.quote_plus(secret).encode("ascii")
    forms["hex"] = raw.hex().encode("ascii")
    forms["utf-16"] = secret.encode("utf-16-le")
    forms.update(_base64_cores(raw))
    # Keep one form per distinct byte string (a plain ASCII password is its own JSON form).
    unique: dict[bytes, str] = {}
    for name, value in forms.items():
        unique.setdefault(value, name)
    return {name: value for value, name in unique.items()}


@dataclass
class SecretSet:
    """The secrets of one run, with labels for reports (labels may be printed; values not)."""

    _secrets: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, value: str | None) -> None:
        if not value:
            return
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(f"secret {label!r} is too short to search for reliably")
        self._secrets[label] = value

    def password(self, label: str, *, unicode: bool = False) -> str:
        """A new distinctive password (remembered under `label`): nothing else in the
        system could contain it by chance. `unicode=True` adds non-ASCII characters, so
        escaped forms (JSON `\\u00e9`, URL `%C3%A9`) are searched for too."""
        value = f"Pw-{_random.token_hex(12)}" + ("-\u00e9\u00df\u2603" if unicode else "")
        self.add(label, value)
        return value

    def items(self) -> Iterable[tuple[str, str]]:
        return self._secrets.items()

    def __len__(self) -> int:
        return len(self._secrets)

    def needles(self) -> list[tuple[str, str, bytes]]:
        """(label, form, bytes) for every secret and form."""
        return [
            (label, form, needle)
            for label, value in self._secrets.items()
            for form, needle in variants(value).items()
        ]


def scan_bytes(where: str, data: bytes, secrets: SecretSet) -> list[Hit]:
    """Every secret found in `data` (case-sensitive; hex also in upper case)."""
    hits: list[Hit] = []
    for label, form, needle in secrets.needles():
        candidates = [needle]
        if form == "hex":
            candidates.append(needle.upper())
        for candidate in candidates:
            offset = data.find(candidate)
            if offset >= 0:
                hits.append(Hit(label, form, where, offset))
                break
    return hits


def _files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file())
        elif path.is_file():
            found.append(path)
    return found


def scan_paths(paths: Iterable[Path], secrets: SecretSet) -> list[Hit]:
    """Scan files, and directories recursively (logs, SQLite files with their -wal and
    -shm, queue files): the raw bytes, so deleted-but-not-vacuumed rows count too."""
    hits: list[Hit] = []
    for path in _files(paths):
        try:
            data = path.read_bytes()
        except OSError as exc:  # a file removed while we scan is not a finding
            if path.exists():
                raise AssertionError(f"cannot read {path}: {exc}") from exc
            continue
        hits.extend(scan_bytes(str(path), data, secrets))
    return hits


def _pg_tool(name: str) -> str:
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed")
    return found


def _libpq_dsn(dsn: str) -> str:
    """A SQLAlchemy URL (`postgresql+asyncpg://`) as libpq takes it."""
    scheme, sep, rest = dsn.partition("://")
    return ("postgresql" + sep + rest) if scheme.startswith("postgresql") else dsn


def scan_postgres(
    admin_dsn: str,
    secrets: SecretSet,
    *,
    databases: Iterable[str] | None = None,
    timeout: float = 60.0,
) -> list[Hit]:
    """Dump PostgreSQL (data and definitions) and scan the dump: the whole server with
    `pg_dumpall`, or only `databases` (names or URLs of databases on that server) with
    `pg_dump`. The admin DSN may be a SQLAlchemy URL."""
    dsn = _libpq_dsn(admin_dsn)
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    server = dsn.rsplit("@", 1)[-1].split("/", 1)[0]
    if databases is None:
        dump = subprocess.run(
            [_pg_tool("pg_dumpall"), "--dbname", dsn, "--no-password"],
            check=True,
            capture_output=True,
            timeout=timeout,
            env=env,
        ).stdout
        return scan_bytes(f"pg_dumpall of {server}", dump, secrets)
    hits: list[Hit] = []
    base = dsn.rsplit("/", 1)[0]
    for database in databases:
        name = database.rsplit("/", 1)[-1].split("?", 1)[0]
        dump = subprocess.run(
            [_pg_tool("pg_dump"), "--dbname", f"{base}/{name}", "--no-password"],
            check=True,
            capture_output=True,
            timeout=timeout,
            env=env,
        ).stdout
        hits.extend(scan_bytes(f"pg_dump of {server}/{name}", dump, secrets))
    return hits


def scan_http(
    client: httpx.Client,
    url: str,
    secrets: SecretSet,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> list[Hit]:
    """Fetch `url` (e.g. audit's export of every record) and scan the body."""
    with client.stream("GET", url, headers=headers, params=params) as response:
        response.raise_for_status()
        data = response.read()
    return scan_bytes(f"GET {url}", data, secrets)


def scan_local_stack(
    stack: LocalStack,
    secrets: SecretSet,
    *,
    postgres_admin_dsn: str | None = None,
    client: httpx.Client | None = None,
) -> list[Hit]:
    """Everything a `devstack.LocalStack` wrote: the logs of all three
    processes, every file in their DATA_DIRs (SQLite databases with -wal/-shm, the broker
    queue), the PostgreSQL databases in `stack.database_urls` (needs
    `postgres_admin_dsn`), and audit's exports of events and dead letters (the stack
    must still be running for those)."""
    hits = scan_paths([*stack.log_paths(), *stack.data_files()], secrets)
    if stack.database_urls:
        if postgres_admin_dsn is None:
            raise ValueError("the stack uses PostgreSQL: pass postgres_admin_dsn")
        hits += scan_postgres(postgres_admin_dsn, secrets, databases=stack.database_urls.values())
    own = client is None
    client = client or httpx.Client(timeout=30)
    try:
        for export in ("/v1/events/export", "/v1/dead-letters/export"):
            hits += scan_http(
                client, stack.audit_url + export, secrets, headers=stack.audit_headers()
            )
    finally:
        if own:
            client.close()
    return hits


def assert_clean(hits: Iterable[Hit]) -> None:
    """Fail listing every hit (labels and places only: the report never holds a secret)."""
    found = sorted(set(hits), key=str)
    if found:
        listing = "\n  ".join(str(hit) for hit in found)
        raise AssertionError(f"{len(found)} secret(s) written where they must not be:\n  {listing}")
