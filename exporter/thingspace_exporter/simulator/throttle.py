"""A hidden rate limit: at most N requests admitted within any second (a sliding window),
the rest answered 429 with Retry-After, as ThingSpace's gateway does. Every answer is logged
(when, admitted or not) so that tests can count both per time window."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 1.0  # seconds
LOG_SIZE = 100_000  # the newest answers kept for tests; older ones are forgotten


class Throttle:
    def __init__(self, per_second: int, clock: Callable[[], float] = time.monotonic):
        if per_second < 1:
            raise ValueError(f"a rate limit must be at least 1 request per second, got {per_second}")
        self.per_second = per_second
        self.log: deque[tuple[float, bool]] = deque(maxlen=LOG_SIZE)  # (clock time, admitted)
        self._clock = clock
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> int | None:
        """None if the request may pass, else the Retry-After (whole seconds) of its 429."""
        with self._lock:
            now = self._clock()
            while self._admitted and self._admitted[0] <= now - WINDOW:
                self._admitted.popleft()
            if len(self._admitted) < self.per_second:
                self._admitted.append(now)
                self.log.append((now, True))
                return None
            self.log.append((now, False))
            return max(1, math.ceil(self._admitted[0] + WINDOW - now))
