"""A token bucket shared by every account and worker: a cap on API requests per second."""

from __future__ import annotations

import threading
import time

from .errors import Stopped


class RateLimiter:
    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event) -> None:
        """Take one token, waiting as long as needed; 0 rate means no cap."""
        if self.rate <= 0:
            return
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            if stop.wait(wait):
                raise Stopped()
