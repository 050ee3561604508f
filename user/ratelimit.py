"""An in-memory sliding-window counter of failures per key, bounded in memory.

Per process: with N replicas a client gets up to N times the limit, which is
still a hard ceiling on online password guessing. Attempts still in progress count
too (`reserve`/`release`), so a burst cannot start more attempts than the limit
before the first of them is counted.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """At most `limit` events per key in any `window` seconds.

    Only the last `limit` timestamps of a key are kept, and at most `max_keys`
    keys (the least recently used go first), so memory stays bounded whatever
    a client sends.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        # Reserved, not yet released; at most one entry per request in progress.
        self._pending: dict[str, int] = {}

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again, or None when it is under the limit
        (events in the window plus reservations in progress)."""
        pending = self._pending.get(key, 0)
        events = self._events.get(key)
        now = self._clock()
        if events is not None:
            while events and events[0] <= now - self.window:
                events.popleft()
            if not events:
                del self._events[key]
                events = None
        counted = len(events) if events is not None else 0
        if counted + pending < self.limit:
            return None
        if events is not None and counted >= self.limit:
            return events[0] + self.window - now
        # Held by attempts in progress: one that succeeds frees its place at once.
        return 1.0

    def reserve(self, key: str) -> None:
        """Hold a place for an event that may be counted when it finishes."""
        self._pending[key] = self._pending.get(key, 0) + 1

    def release(self, key: str, *, count: bool) -> None:
        """Give back a reserved place, and count the event now if `count`."""
        remaining = self._pending.get(key, 0) - 1
        if remaining > 0:
            self._pending[key] = remaining
        else:
            self._pending.pop(key, None)
        if count:
            self.record(key)

    def record(self, key: str) -> None:
        """Count one event for `key` now."""
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque(maxlen=self.limit)
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        events.append(self._clock())

    def __len__(self) -> int:
        return len(self._events)
