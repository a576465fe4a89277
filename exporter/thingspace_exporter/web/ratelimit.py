"""Token buckets: one for all requests (a web configuration's rate_limit, as exporter-toolkit's
golang.org/x/time/rate limiter) and one per client address for failed password checks."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class Bucket:
    """`burst` tokens, one more every `interval` seconds; take() spends one if there is one."""

    def __init__(self, interval: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.burst, self.clock = interval, burst, clock
        self.tokens, self.at = float(burst), clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        if self.interval > 0:
            self.tokens = min(float(self.burst), self.tokens + (now - self.at) / self.interval)
        self.at = now

    def take(self) -> bool:
        with self._lock:
            self._refill(self.clock())
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False

    def retry_after(self) -> int:
        """Whole seconds until a token is back (at least 1, as Retry-After is in seconds)."""
        with self._lock:
            self._refill(self.clock())
            missing = max(0.0, 1 - self.tokens)
            return max(1, math.ceil(missing * self.interval))


class PerAddress:
    """Failed checks per client address: past `burst`, one more each `interval`; the oldest
    addresses are forgotten beyond `size`, so a spoofing flood costs bounded memory."""

    def __init__(self, interval: float, burst: int, size: int = 4096, clock: Callable[[], float] = time.monotonic):
        self.interval, self.burst, self.size, self.clock = interval, burst, size, clock
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def blocked(self, addr: str) -> int:
        """0 while `addr` may still fail a check; otherwise the seconds to wait (Retry-After)."""
        with self._lock:
            bucket = self._buckets.get(addr)
        if bucket is None:
            return 0
        with bucket._lock:
            bucket._refill(bucket.clock())
            if bucket.tokens >= 1:
                return 0
        return bucket.retry_after()

    def failed(self, addr: str) -> None:
        with self._lock:
            bucket = self._buckets.get(addr)
            if bucket is None:
                bucket = self._buckets[addr] = Bucket(self.interval, self.burst, self.clock)
            self._buckets.move_to_end(addr)
            while len(self._buckets) > self.size:
                self._buckets.popitem(last=False)
        bucket.take()
