"""ratelimit: the adaptive rate, driven by an injected clock (no real waiting)."""

import threading

import pytest
from thingspace_exporter.thingspace.errors import Stopped
from thingspace_exporter.thingspace.ratelimit import (
    BACKOFF,
    GROWTH,
    MIN_GROWTH,
    MIN_RATE,
    PROBE_SLOWDOWN,
    SAFE,
    RateLimiter,
)


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


def run(limiter, ft, seconds, *, limit=None, retry_after=None):
    """Send requests back to back for `seconds` of fake time against an API that answers 429
    (with `retry_after`) to more than `limit` requests within any second. Returns the grant
    times and the times of the 429s."""
    granted, throttled, admitted = [], [], []
    end = ft.t + seconds
    while ft.t < end:
        sent = limiter.acquire(ft)
        granted.append(sent)
        admitted[:] = [t for t in admitted if t > sent - 1.0]
        if limit is not None and len(admitted) >= limit:
            throttled.append(sent)
            limiter.throttled(retry_after, sent)
        else:
            admitted.append(sent)
            limiter.succeeded()
    return granted, throttled


def per_second(times, start, end):
    return sum(1 for t in times if start <= t < end) / (end - start)


def test_no_ceiling_and_no_429_means_no_limit():
    ft = FakeTime()
    r = RateLimiter(0, clock=ft)
    for _ in range(1000):
        r.acquire(ft)
        r.succeeded()
    assert ft.waits == [] and r.rate == float("inf")


def test_until_a_429_the_ceiling_allows_a_burst_of_one_second():
    ft = FakeTime()
    r = RateLimiter(10, clock=ft)
    for _ in range(10):
        r.acquire(ft)
    assert ft.waits == [] and ft.t == 0
    for _ in range(11):
        r.acquire(ft)
        r.succeeded()
    assert ft.t == pytest.approx(1.1, abs=1e-3)  # 21 requests at 10/s after a burst of 10
    assert r.rate == 10
    ft.t += 100  # idle: refills to 10, not 1000
    for _ in range(10):
        r.acquire(ft)
    assert ft.t == pytest.approx(101.1, abs=1e-3)
    r.acquire(ft)
    assert ft.t == pytest.approx(101.2, abs=1e-3)


def test_a_ceiling_below_one_per_second_has_a_burst_of_one():
    ft = FakeTime()
    r = RateLimiter(0.5, clock=ft)
    r.acquire(ft)
    r.acquire(ft)
    assert ft.t == pytest.approx(2.0)


def test_after_a_429_requests_are_spaced_evenly_even_after_idling():
    ft = FakeTime()
    r = RateLimiter(10, clock=ft)
    r.throttled(None, r.acquire(ft))
    ft.t += 100
    granted = [r.acquire(ft) for _ in range(8)]
    assert all(b - a == pytest.approx(1 / r.rate, abs=1e-3) for a, b in zip(granted, granted[1:], strict=False))


def test_a_429_backs_off_from_the_rate_it_came_at():
    ft = FakeTime()
    r = RateLimiter(10, clock=ft)
    for _ in range(10):
        sent = r.acquire(ft)
    r.throttled(None, sent)
    assert r.limit == pytest.approx(10) and r.rate == pytest.approx(10 * BACKOFF)
    before = ft.t
    r.acquire(ft)
    assert ft.t - before == pytest.approx(1 / (10 * BACKOFF))  # the bucket was emptied


def test_without_a_ceiling_the_first_429_sets_the_rate_from_the_requests_of_the_last_second():
    ft = FakeTime()
    r = RateLimiter(0, clock=ft)
    ft.t = 100.0
    for i in range(40):  # 40 requests within 0.4 s, 20 of them 1 s ago or more
        ft.t = 100.0 + i * 0.05
        sent = r.acquire(ft)
    r.throttled(None, sent)
    assert r.limit == pytest.approx(20) and r.rate == pytest.approx(20 * BACKOFF)


def test_retry_after_holds_back_every_caller():
    ft = FakeTime()
    r = RateLimiter(0, clock=ft)
    sent = r.acquire(ft)
    r.throttled(3.0, sent)
    r.acquire(ft)  # another caller, not the one that got the 429
    assert ft.t == pytest.approx(3.0)


def test_a_later_429_to_an_older_request_does_not_back_off_again_but_its_retry_after_counts():
    ft = FakeTime()
    r = RateLimiter(20, clock=ft)
    in_flight = [r.acquire(ft) for _ in range(4)]  # at 0, 0.05, 0.1 and 0.15 s
    r.throttled(1.0, in_flight[0])
    rate = r.rate
    ft.t = 0.5
    r.throttled(2.0, in_flight[3])  # sent before the back-off
    assert r.rate == rate
    r.acquire(ft)
    assert ft.t == pytest.approx(2.5)
    sent = r.acquire(ft)
    r.throttled(None, sent)  # sent at the lowered rate: back off again
    assert r.rate == pytest.approx(max(MIN_RATE, min(rate, 2) * BACKOFF))


def test_grows_back_fast_to_safe_then_slowly():
    ft = FakeTime()
    r = RateLimiter(100, clock=ft)
    for _ in range(40):
        sent = r.acquire(ft)
    r.throttled(None, sent)  # at 40/s
    assert r.rate == pytest.approx(28)
    start = ft.t
    while r.rate < SAFE * 40:
        r.acquire(ft)
        r.succeeded()
    fast = ft.t - start
    assert fast == pytest.approx((SAFE - BACKOFF) / GROWTH, rel=0.05)  # 4 s
    start = ft.t
    while r.rate < 40:
        r.acquire(ft)
        r.succeeded()
    assert ft.t - start == pytest.approx((1 - SAFE) / GROWTH * PROBE_SLOWDOWN, rel=0.05)  # 40 s
    start = ft.t
    while r.rate < 44:
        r.acquire(ft)
        r.succeeded()
    assert ft.t - start == pytest.approx(4 / (GROWTH * 40), rel=0.05)  # past it: fast again, 2 s


def test_settles_under_an_unknown_limit_with_429s_only_at_the_start():
    for ceiling in (0, 100):
        ft = FakeTime()
        r = RateLimiter(ceiling, clock=ft)
        granted, throttled = run(r, ft, 30.0, limit=30, retry_after=1.0)
        assert throttled and max(throttled) < 2.0
        late = per_second(granted, 10.0, 30.0)
        assert 0.8 * 30 <= late <= 30
        assert 0.8 * 30 <= r.rate <= 30


def test_a_low_limit_seen_grows_back_at_least_one_request_per_second_each_second():
    ft = FakeTime()
    r = RateLimiter(0, clock=ft)
    for _ in range(5):
        sent = r.acquire(ft)
    r.throttled(None, sent)  # five requests in the last second: a limit of 5/s
    assert r.limit == 5 and r.rate == pytest.approx(3.5)
    start = ft.t
    while r.rate < SAFE * 5:
        r.acquire(ft)
        r.succeeded()
    assert ft.t - start == pytest.approx(1.0 / MIN_GROWTH, abs=0.3)  # not 0.25/s: 4 s


def test_never_exceeds_the_ceiling():
    ft = FakeTime()
    r = RateLimiter(12, clock=ft)
    granted, throttled = run(r, ft, 5.0, limit=40, retry_after=1.0)  # the API allows more
    assert not throttled and r.rate == 12
    sent = r.acquire(ft)
    r.throttled(None, sent)
    granted, _ = run(r, ft, 200.0)  # grows back (slowly past 90 % of 12), but only to the ceiling
    assert r.rate == 12
    assert per_second(granted, granted[-1] - 10, granted[-1]) <= 12


def test_never_below_the_floor():
    ft = FakeTime()
    r = RateLimiter(5, clock=ft)
    for _ in range(20):
        r.throttled(None, r.acquire(ft))
    assert r.rate == MIN_RATE


def test_every_change_is_reported():
    ft = FakeTime()
    seen = []
    r = RateLimiter(0, clock=ft, on_change=seen.append)
    assert seen == [float("inf")]
    for _ in range(10):
        sent = r.acquire(ft)
    r.throttled(None, sent)
    r.acquire(ft)
    r.succeeded()
    assert seen[1] == pytest.approx(10 * BACKOFF) and seen[2] > seen[1] and seen[-1] == r.rate


def test_stop_interrupts_the_wait():
    ft = FakeTime()
    ft.stopped = True
    r = RateLimiter(1, clock=ft)
    r.acquire(ft)
    with pytest.raises(Stopped):
        r.acquire(ft)
    r2 = RateLimiter(0, clock=ft)
    r2.throttled(30.0, r2.acquire(ft))
    with pytest.raises(Stopped):
        r2.acquire(ft)


def test_shared_between_threads_never_exceeds_the_rate():
    ft = FakeTime()
    lock = threading.Lock()
    real_wait = ft.wait

    def wait(seconds):
        with lock:
            return real_wait(seconds)

    ft.wait = wait
    r = RateLimiter(5, clock=ft)
    granted = []
    threads = [threading.Thread(target=lambda: [granted.append(r.acquire(ft)) for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted.sort()
    assert len(granted) == 20
    # a burst of 5, then none closer than 1/5 s: 20 need at least 3 s of (fake) time
    assert granted[4] == 0 and all(b - a >= 0.2 - 1e-6 for a, b in zip(granted[4:], granted[5:], strict=False))
    assert ft.t >= 3.0 - 1e-9


def test_a_429_in_one_thread_holds_back_the_others():
    ft = FakeTime()
    lock = threading.Lock()
    real_wait = ft.wait
    ft.wait = lambda s: (lock.acquire(), real_wait(s), lock.release())[1]
    r = RateLimiter(0, clock=ft)
    r.throttled(2.0, r.acquire(ft))
    after = []
    threads = [threading.Thread(target=lambda: after.append(r.acquire(ft))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert min(after) >= 2.0
