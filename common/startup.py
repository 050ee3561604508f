"""Start-up that waits for the database instead of exiting.

On a fresh cluster deploy the database pod is often still pulling or initialising
when the services start: its name does not resolve yet, connections are refused. A
service that ran its migrations once in the lifespan would exit (uvicorn: code 3),
and skaffold's status check takes a terminated container as unrecoverable. Both
services therefore run their start-up step through `RetryingStartup`: the step is
retried with capped exponential backoff while the server already answers /healthz,
and /readyz says why it is not ready meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Delays between attempts: `first_delay`, doubling, at most `max_delay` seconds."""

    first_delay: float = 0.5
    max_delay: float = 10.0
    #: How long the lifespan waits for the first attempt before serving anyway.
    first_attempt_wait: float = 10.0


class RetryingStartup:
    """Run `step` until it succeeds, in the background of the server's lifespan."""

    def __init__(
        self,
        what: str,
        step: Callable[[], Awaitable[None]],
        logger: logging.Logger,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.what = what
        self.step = step
        self.logger = logger
        self.policy = policy or RetryPolicy()
        self.first_attempt = asyncio.Event()
        self.done = False

    async def run(self) -> None:
        delay = self.policy.first_delay
        attempt = 1
        while True:
            try:
                await self.step()
                break
            except Exception as exc:  # any failure is retried: /readyz reports it meanwhile
                self.first_attempt.set()
                self.logger.warning(
                    "%s: not done yet (attempt %d), retrying in %.1fs: %s: %s",
                    self.what,
                    attempt,
                    delay,
                    type(exc).__name__,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.policy.max_delay)
                attempt += 1
        self.done = True
        self.first_attempt.set()

    @contextlib.asynccontextmanager
    async def in_background(self) -> AsyncIterator[None]:
        """Start `run`; give the first attempt a moment (usually it succeeds at once),
        then let the server serve; cancel the retries when the server stops."""
        task = asyncio.create_task(self.run(), name=f"startup: {self.what}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.first_attempt.wait(), self.policy.first_attempt_wait)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
