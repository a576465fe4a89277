"""ratelimit: a token bucket driven by an injected clock (no real waiting)."""

import threading

import pytest

from thingspace_exporter.errors import Stopped
from thingspace_exporter.ratelimit import RateLimiter


class FakeTime:
    """A clock, and a stop 'event' whose wait() advances that clock instead of sleeping."""

    def __init__(self):
        self.t = 0.0
        self.waits = []
        self.stopped = False

    def __call__(self):
        return self.t

    def wait(self, seconds):
        self.waits.append(seconds)
        self.t += max(seconds, 1e-6)  # like a real wait, it always takes some time
        return self.stopped


def test_zero_rate_means_no_cap():
    ft = FakeTime()
    r = RateLimiter(0, clock=ft)
    for _ in range(1000):
        r.acquire(ft)
    assert ft.waits == []


def test_burst_then_one_per_interval():
    ft = FakeTime()
    r = RateLimiter(10, clock=ft)  # capacity 10
    for _ in range(10):
        r.acquire(ft)
    assert ft.waits == [] and ft.t == 0
    r.acquire(ft)
    assert ft.t == pytest.approx(0.1)
    for _ in range(10):
        r.acquire(ft)
    assert ft.t == pytest.approx(1.1)  # 21 requests at 10/s after a burst of 10


def test_rate_below_one_has_capacity_one():
    ft = FakeTime()
    r = RateLimiter(0.5, clock=ft)
    r.acquire(ft)
    r.acquire(ft)
    assert ft.t == pytest.approx(2.0)


def test_tokens_refill_while_idle_up_to_capacity():
    ft = FakeTime()
    r = RateLimiter(2, burst=3, clock=ft)
    for _ in range(3):
        r.acquire(ft)
    ft.t += 100  # idle: refills to 3, not 200
    for _ in range(3):
        r.acquire(ft)
    assert ft.waits == []
    r.acquire(ft)
    assert sum(ft.waits) == pytest.approx(0.5)


def test_stop_interrupts_the_wait():
    ft = FakeTime()
    ft.stopped = True
    r = RateLimiter(1, clock=ft)
    r.acquire(ft)
    with pytest.raises(Stopped):
        r.acquire(ft)


def test_shared_between_threads_never_exceeds_the_rate():
    ft = FakeTime()
    lock = threading.Lock()
    real_wait = ft.wait

    def wait(seconds):
        with lock:
            return real_wait(seconds)

    ft.wait = wait
    r = RateLimiter(5, clock=ft)
    threads = [threading.Thread(target=lambda: [r.acquire(ft) for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 acquisitions at 5/s with a burst of 5 need at least 3 s of (fake) time
    assert ft.t >= 3.0 - 1e-9
