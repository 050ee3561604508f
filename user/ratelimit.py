"""An in-memory sliding-window counter of failures per key, bounded in memory.

Per process: with N replicas a client gets up to N times the limit, which is
still a hard ceiling on online password guessing.
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

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again, or None when it is under the limit."""
        events = self._events.get(key)
        if events is None:
            return None
        now = self._clock()
        while events and events[0] <= now - self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        if len(events) < self.limit:
            return None
        return events[0] + self.window - now

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
