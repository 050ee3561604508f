"""argon2id password hashing off the event loop, with bounded memory.

Each hash needs `memory_kib` of RAM for its duration, so at most `concurrency`
hashes run at once (default: from the pod's CPU and memory limits, see
capacity.py): 1,000 concurrent sign-ups queue instead of asking for 1,000 x 64 MiB.
The queue is bounded too: past `queue_limit` waiting, `HashingBusy` (a 503).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Counter, Gauge, Histogram

HASH_SECONDS = Histogram(
    "user_password_hash_seconds",
    "Time to hash or verify a password, queueing included.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

IN_PROGRESS = Gauge(
    "user_password_hashes_in_progress",
    "Password hashes and verifications waiting for or holding a hashing slot.",
)

REFUSED = Counter(
    "user_password_hashes_refused_total",
    "Hashes and verifications refused because every slot and queue place was taken.",
    ["operation"],
)

T = TypeVar("T")


class HashingBusy(Exception):
    """Every hashing slot is in use and the queue is full: retry later."""


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost. Default: RFC 9106 section 4, second recommended option."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4


class PasswordHasher:
    """Hash and verify passwords in a small thread pool of its own."""

    def __init__(self, params: Argon2Params, concurrency: int, queue_limit: int = 256) -> None:
        self._argon2 = Argon2Hasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self._slots = asyncio.Semaphore(concurrency)
        self._capacity = concurrency + queue_limit
        self._admitted = 0
        # Verified against when the user does not exist, so that an unknown id
        # costs as much time as a wrong password.
        self._dummy_hash: str | None = None

    async def _run(self, operation: str, work: Callable[[], T]) -> T:
        if self._admitted >= self._capacity:
            REFUSED.labels(operation).inc()
            raise HashingBusy
        self._admitted += 1
        started = time.perf_counter()
        try:
            with IN_PROGRESS.track_inprogress():
                async with self._slots:
                    loop = asyncio.get_running_loop()
                    result = await loop.run_in_executor(self._executor, work)
        finally:
            self._admitted -= 1
        HASH_SECONDS.labels(operation).observe(time.perf_counter() - started)
        return result

    async def hash(self, password: str) -> str:
        """The encoded argon2id hash (PHC string format: parameters and salt included)."""
        return await self._run("hash", partial(self._argon2.hash, password))

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no stored hash, spend the same time and say no."""
        if stored_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash("timing-equaliser")
            await self._run("verify", partial(self._check, self._dummy_hash, password))
            return False
        return await self._run("verify", partial(self._check, stored_hash, password))

    def _check(self, stored_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def warm_up(self) -> None:
        """Compute the timing-equaliser hash before the first login needs it."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("timing-equaliser")

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
