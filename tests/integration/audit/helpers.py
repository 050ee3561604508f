"""Helpers for tests that drive a real audit process over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from common.events import (
    CloudEvent,
    encode_batch,
    encode_binary,
    encode_structured,
    new_event,
)
from devstack import ServiceProcess

T = TypeVar("T")
SOURCE = "/tests/audit"


def audit_process(
    tmp_path: Path, database_url: str, *, name: str = "audit", **env: str
) -> ServiceProcess:
    """An audit service on a free port with its own database (not started)."""
    return ServiceProcess(
        "audit",
        name=name,
        log_dir=tmp_path,
        ready_path="/readyz",
        env={
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "AUDIT_READ_TOKEN": "",
            "AUDIT_READ_OPEN": "true",
            "LOG_LEVEL": "info",
            **env,
        },
    )


def event(
    type: str = "user.storeUser",
    *,
    data: Any = None,
    source: str = SOURCE,
    **attributes: Any,
) -> CloudEvent:
    """A valid event; its data, unless given, is `{"id": "<uuid>"}` as the user
    service's events carry (audit refuses user.* events without a string id)."""
    payload = orjson.dumps(data if data is not None else {"id": str(uuid.uuid4())})
    return new_event(type=type, source=source, data=payload, **attributes)


def post_binary(client: httpx.Client, ce: CloudEvent, path: str = "/") -> httpx.Response:
    headers, body = encode_binary(ce)
    return client.post(path, headers=headers, content=body)


def post_structured(client: httpx.Client, ce: CloudEvent, path: str = "/") -> httpx.Response:
    headers, body = encode_structured(ce)
    return client.post(path, headers=headers, content=body)


def post_batch(client: httpx.Client, events: list[CloudEvent], path: str = "/") -> httpx.Response:
    headers, body = encode_batch(events)
    return client.post(path, headers=headers, content=body)


def wait_until(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float = 15.0,
    what: str = "condition",
) -> T:
    """Call `probe` until `done(result)`; fail with the last result at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {result!r}"[:2000])
        time.sleep(0.05)


def all_items(client: httpx.Client, path: str = "/v1/events", **params: Any) -> list[Any]:
    """Every item of a paginated list."""
    items: list[Any] = []
    query: dict[str, Any] = {"limit": 1000, **params}
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """The value of one sample on /metrics (0 when absent)."""
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


@dataclass
class SseEvent:
    id: str | None
    data: str

    def json(self) -> Any:
        return orjson.loads(self.data)


class SseClient:
    """Reads `GET /v1/events/stream` in a thread; frames arrive on a queue."""

    def __init__(
        self,
        base_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.events: queue.Queue[SseEvent | BaseException | None] = queue.Queue()
        self.status: int | None = None
        self.comments: list[str] = []
        self.body = ""
        self._socket: socket.socket | None = None
        self._opened = threading.Event()
        self._stop = threading.Event()
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(30, read=60))
        self._thread = threading.Thread(
            target=self._read, args=(dict(params or {}), dict(headers or {})), daemon=True
        )
        self._thread.start()
        if not self._opened.wait(15):
            raise AssertionError("the SSE stream did not open")

    def _read(self, params: dict[str, Any], headers: dict[str, str]) -> None:
        try:
            with self._client.stream(
                "GET", "/v1/events/stream", params=params, headers=headers
            ) as response:
                self.status = response.status_code
                self._socket = response.extensions["network_stream"].get_extra_info("socket")
                self._opened.set()
                if response.status_code != 200:
                    response.read()
                    self.body = response.text
                    return
                for frame in _frames(response.iter_lines()):
                    if self._stop.is_set():
                        return
                    if isinstance(frame, str):
                        self.comments.append(frame)
                    else:
                        self.events.put(frame)
        except BaseException as exc:  # surfaced to the test through the queue
            if not self._stop.is_set():
                self.events.put(exc)
        finally:
            self._opened.set()
            self.events.put(None)

    def next(self, timeout: float = 10.0) -> SseEvent:
        """The next event; fails when the stream ends or nothing comes in time."""
        item = self.events.get(timeout=timeout)
        if item is None:
            raise AssertionError("the stream ended")
        if isinstance(item, BaseException):
            raise item
        return item

    def take(self, count: int, timeout: float = 15.0) -> list[SseEvent]:
        deadline = time.monotonic() + timeout
        return [self.next(max(0.1, deadline - time.monotonic())) for _ in range(count)]

    def ended(self, timeout: float) -> bool:
        """True once the server closed the stream (within `timeout`)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        """Drop the connection, as a browser tab that goes away would."""
        self._stop.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._client.close()


def _frames(lines: Iterator[str]) -> Iterator[SseEvent | str]:
    event_id: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield SseEvent(event_id, "\n".join(data))
            event_id, data = None, []
        elif line.startswith(":"):
            yield line[1:].strip()
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                event_id = value
            elif field == "data":
                data.append(value)


class WriteLock:
    """Holds a lock on audit's database that blocks its writes (reads go on),
    from another connection, until the `with` block ends."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._acquired = threading.Event()
        self._release = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._hold, daemon=True)

    def __enter__(self) -> WriteLock:
        self._thread.start()
        if not self._acquired.wait(15):
            raise AssertionError(f"could not lock the database: {self._error!r}")
        return self

    def __exit__(self, *_: object) -> None:
        self._release.set()
        self._thread.join(15)

    def _hold(self) -> None:
        try:
            if self._url.startswith("sqlite"):
                self._hold_sqlite(self._url.split(":///", 1)[1])
            else:
                asyncio.run(self._hold_postgres(self._url.replace("+asyncpg", "", 1)))
        except BaseException as exc:  # reported by __enter__
            self._error = exc

    def _hold_sqlite(self, path: str) -> None:
        connection = sqlite3.connect(path, isolation_level=None, timeout=15)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            self._acquired.set()
            self._release.wait()
            connection.execute("ROLLBACK")
        finally:
            connection.close()

    async def _hold_postgres(self, dsn: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(dsn)
        try:
            transaction = connection.transaction()
            await transaction.start()
            await connection.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            self._acquired.set()
            await asyncio.get_running_loop().run_in_executor(None, self._release.wait)
            await transaction.rollback()
        finally:
            await connection.close()
