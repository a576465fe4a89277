"""The request rate shared by every account and worker, adapted to ThingSpace's 429 answers.

Nobody publishes ThingSpace's rate limit, so the limiter finds it (additive increase,
multiplicative decrease, as TCP does with a network's capacity):

- Until the first 429 the rate is the ceiling (THINGSPACE_MAX_REQUESTS_PER_SECOND), a token
  bucket that allows a burst of a second's worth, or no limit at all when the ceiling is 0.
  After it, requests are spaced evenly: an API that counts requests in windows of its own sees
  a burst as a rate above its limit.
- On a 429 the rate at which it came, the lesser of the allowed rate and the requests sent in
  the last second, becomes the known limit; the rate drops to BACKOFF of it, and no request
  leaves until the answer's Retry-After has passed. A 429 to a request sent before that back-off
  tells nothing about the lowered rate, so it only extends the wait.
- Each successful request adds its share of GROWTH × the known limit (at least MIN_GROWTH) per
  second: back to SAFE of it within seconds; then PROBE_SLOWDOWN times slower up to it (40 s of
  requests: a limit that has risen is found again, one that has not costs a 429 now and then);
  then fast again past it; never above the ceiling.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from .errors import Stopped

BACKOFF = 0.7  # the rate after a 429, as a share of the rate the 429 came at
SAFE = 0.9  # growth slows down at this share of the known limit...
GROWTH = 0.05  # ...having grown by this share of it per second
PROBE_SLOWDOWN = 20  # growth between SAFE and the known limit is this many times slower
MIN_GROWTH = 1.0  # requests per second per second at least: a low limit seen is soon left behind
MIN_RATE = 0.5  # requests per second: never slower, whatever the 429s
OBSERVED_SECONDS = 1.0  # the window over which the rate actually sent is measured

UNLIMITED = math.inf


class RateLimiter:
    def __init__(
        self,
        ceiling: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[float], None] | None = None,
    ) -> None:
        """`ceiling` in requests per second, 0 for none; `on_change(rate)` hears every new rate
        (math.inf while there is no limit)."""
        self.ceiling = ceiling if ceiling > 0 else UNLIMITED
        self.rate = self.ceiling
        self.limit: float | None = None  # the rate the last new 429 came at
        self._clock = clock
        self._on_change = on_change
        self._tokens = self._capacity()
        self._stamp = clock()
        self._hold_until = -math.inf  # Retry-After: no request before this
        self._backed_off_at = -math.inf
        self._sent: deque[float] = deque()  # grant times within the last OBSERVED_SECONDS
        self._lock = threading.Lock()
        if on_change is not None:
            on_change(self.rate)

    def acquire(self, stop: threading.Event) -> float:
        """Wait for a turn to send (raising Stopped at shutdown); return the time granted."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._hold_until - now
                if wait <= 0 and self.rate != UNLIMITED:
                    self._tokens = min(self._capacity(), self._tokens + (now - self._stamp) * self.rate)
                    self._stamp = now
                    wait = (1.0 - self._tokens) / self.rate if self._tokens < 1.0 else 0.0
                if wait <= 0:
                    if self.rate != UNLIMITED:
                        self._tokens -= 1.0
                    self._record(now)
                    return now
            if stop.wait(wait):
                raise Stopped()

    def throttled(self, retry_after: float | None = None, sent: float | None = None) -> None:
        """A 429 answered the request granted at `sent` (None: unknown, taken as recent)."""
        with self._lock:
            now = self._clock()
            if retry_after is not None and retry_after > 0:
                self._hold_until = max(self._hold_until, now + retry_after)
            if sent is not None and sent <= self._backed_off_at:
                return  # sent at the rate before the last back-off
            self._record(now, count=False)
            came_at = min(self.rate, len(self._sent) / OBSERVED_SECONDS)
            self.limit = max(MIN_RATE, came_at)
            self._backed_off_at = now
            self._tokens, self._stamp = 0.0, now
            self._set(self.limit * BACKOFF)

    def succeeded(self) -> None:
        """A request was answered without a 429: grow, once a limit is known."""
        with self._lock:
            if self.limit is None or self.rate >= self.ceiling:
                return
            if SAFE * self.limit <= self.rate < self.limit:
                per_second = GROWTH * self.limit / PROBE_SLOWDOWN
            else:
                per_second = max(GROWTH * self.limit, MIN_GROWTH)
            # successes arrive about `rate` times a second, so each adds 1/rate of a second's growth
            self._set(self.rate + per_second / self.rate)

    def _capacity(self) -> float:
        return 1.0 if self.limit is not None or self.rate == UNLIMITED else max(1.0, self.rate)

    def _set(self, rate: float) -> None:
        self.rate = min(self.ceiling, max(MIN_RATE, rate))
        if self._on_change is not None:
            self._on_change(self.rate)

    def _record(self, now: float, count: bool = True) -> None:
        sent = self._sent
        if count:
            sent.append(now)
        while sent and sent[0] <= now - OBSERVED_SECONDS:
            sent.popleft()
