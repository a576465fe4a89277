"""The collection cycle through the exporter's public surface, with a stub client (no HTTP) and
injected clocks: health against the account's one deadline, readiness, staleness in cycles, and
the device list's parallel walk."""

from __future__ import annotations

import threading
import time

import msgspec
from thingspace_exporter.app import Exporter
from thingspace_exporter.thingspace.errors import ApiError
from ts_builders import wait_for

ACCOUNT = "0000123456-00001"
# the device list in three pages, so that a first listing learns two boundaries
PAGES = {
    "0": {"hasMoreData": True, "lastSeenDeviceId": "1", "deviceList": [{"deviceId": "1", "make": "M"}]},
    "1": {"hasMoreData": True, "lastSeenDeviceId": "5", "deviceList": [{"deviceId": "5", "make": "M"}]},
    "5": {"hasMoreData": False, "deviceList": [{"deviceId": "9", "make": "M"}]},
}
SUBSCRIPTION = {"licenseCount": 10, "licenseUsedCount": 3}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class StubClient:
    """Client.fetch without HTTP: the device pages by cursor and the licence totals; `cost` advances
    the clock per call of an endpoint, `fail` makes an endpoint raise, `gate` holds it."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock
        self.cursors: list[str] = []
        self.cost: dict[str, float] = {}
        self.fail: dict[str, BaseException] = {}
        self.gate: dict[str, threading.Event] = {}
        self.entered = threading.Event()
        self.seen_health: list[tuple[bool, str]] = []
        self.exporter: Exporter | None = None

    def fetch(self, endpoint, path, params, deadline, parse):
        if endpoint == "devices":
            self.cursors.append(params["lastSeenDeviceId"])
        if self.exporter is not None:
            self.seen_health.append(self.exporter.collection.healthy())
        if self.clock is not None:
            self.clock.t += self.cost.get(endpoint, 0.0)
        if endpoint in self.gate:
            self.entered.set()
            self.gate[endpoint].wait(30)
        if endpoint in self.fail:
            raise self.fail[endpoint]
        if endpoint == "devices":
            return parse(msgspec.json.encode(PAGES[params["lastSeenDeviceId"]])), time.time()
        return parse(msgspec.json.encode(SUBSCRIPTION)), time.time()

    def fetch_json(self, endpoint, path, params, deadline, decoder):
        return self.fetch(endpoint, path, params, deadline, decoder.decode)[0]


def exporter(settings_factory, metrics, stop, client=None, clock=None, wall=None, **kw) -> Exporter:
    settings = settings_factory(**{"collectors": "devices", **kw})
    e = Exporter(
        settings,
        metrics,
        stop,
        client=client or StubClient(),
        monotonic=clock or time.monotonic,
        wall=wall or time.time,
    )
    if client is not None:
        client.exporter = e
    for c in e.collectors:
        if hasattr(c, "segment_backoff"):
            c.segment_backoff = 0.0  # segment retries without waiting
    return e


def value(metrics, name, **labels) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_ready_only_after_first_cycle(settings_factory, metrics, stop):
    e = exporter(settings_factory, metrics, stop)
    assert not e.view.ready()
    assert e.collection.run_cycle()
    assert e.view.ready()
    assert e.store.get("devices", ACCOUNT).data.count == 3
    assert value(metrics, "thingspace_pages_fetched_total", account=ACCOUNT) == 3


def test_healthy_while_loop_runs_and_not_after_it_dies(settings_factory, metrics, stop):
    e = exporter(settings_factory, metrics, stop, interval_seconds=0.05)
    e.collection.start()
    assert e.view.healthy() == (True, "ok")
    stop.set()
    e.collection.thread.join(10)
    ok, why = e.view.healthy()
    assert not ok and "stopped" in why


def test_collectors_that_together_use_most_of_the_deadline_keep_it_healthy(settings_factory, metrics, stop):
    """The device list takes 25 of the account's 30 s and the licences 4 more: every collector is
    within the account's deadline, and so is the health check, whatever it is asked in between."""
    clock = Clock()
    client = StubClient(clock)
    client.cost = {"devices": 25 / 3, "subscriptions": 4.0}
    e = exporter(
        settings_factory,
        metrics,
        stop,
        client,
        clock,
        collectors="devices,licenses",
        cycle_timeout_seconds=30,
        request_timeout_seconds=1,
        max_retries=0,
    )
    assert e.collection.run_cycle()
    assert client.seen_health and all(h == (True, "ok") for h in client.seen_health)
    assert e.view.healthy() == (True, "ok")


def test_a_collector_wedged_past_the_account_deadline_makes_it_unhealthy(settings_factory, metrics, stop):
    clock = Clock()
    client = StubClient(clock)
    client.cost = {"devices": 25 / 3}
    client.gate["subscriptions"] = threading.Event()
    e = exporter(
        settings_factory,
        metrics,
        stop,
        client,
        clock,
        collectors="devices,licenses",
        cycle_timeout_seconds=30,
        request_timeout_seconds=1,
        max_retries=0,
    )
    cycle = threading.Thread(target=e.collection.run_cycle)
    cycle.start()
    try:
        assert client.entered.wait(30)
        slack = 1 + 60  # a request's timeout and retries, and the grace
        clock.t += 30 - 25 + slack - 1  # within its deadline and the slack
        assert e.view.healthy() == (True, "ok")
        clock.t += 2
        ok, why = e.view.healthy()
        assert not ok and ACCOUNT in why and "past its deadline" in why
    finally:
        client.gate["subscriptions"].set()
        cycle.join(30)
    assert e.view.healthy() == (True, "ok")


def test_a_collector_whose_turn_comes_after_the_deadline_fails_with_deadline(settings_factory, metrics, stop):
    clock = Clock()
    client = StubClient(clock)
    client.cost = {"devices": 31 / 3}
    e = exporter(
        settings_factory, metrics, stop, client, clock, collectors="devices,licenses", cycle_timeout_seconds=30
    )
    assert not e.collection.run_cycle()
    assert value(metrics, "thingspace_collector_up", account=ACCOUNT, collector="devices") == 1
    assert (
        value(metrics, "thingspace_collector_errors_total", account=ACCOUNT, collector="licenses", reason="deadline")
        == 1
    )
    assert e.view.healthy() == (True, "ok")


def test_unhealthy_when_no_cycle_ran_for_too_long(settings_factory, metrics, stop):
    clock = Clock()
    e = exporter(
        settings_factory,
        metrics,
        stop,
        clock=clock,
        interval_seconds=1,
        cycle_timeout_seconds=1,
        request_timeout_seconds=1,
        max_retries=0,
    )
    assert e.collection.run_cycle()
    clock.t += 1 + (1 + 60) - 1
    assert e.view.healthy()[0]
    clock.t += 2
    ok, why = e.view.healthy()
    assert not ok and "not run for too long" in why


def test_crash_in_a_cycle_is_counted_not_fatal(settings_factory, metrics, stop, log_stream):
    client = StubClient()
    client.fail["devices"] = KeyError("bug")
    e = exporter(settings_factory, metrics, stop, client)
    assert e.collection.run_cycle() is False
    assert value(metrics, "thingspace_collection_errors_total", account=ACCOUNT, reason="internal_error") == 1
    assert "collection_crashed" in log_stream.getvalue()


def test_a_snapshot_is_dropped_after_the_configured_failed_cycles_in_a_row(settings_factory, metrics, stop):
    client = StubClient()
    wall = Clock()
    e = exporter(settings_factory, metrics, stop, client, wall=wall, stale_after_cycles=3, stale_after_seconds=1)
    assert e.collection.run_cycle()
    client.fail["devices"] = ApiError("server_error", "boom", "devices", 503)
    for _ in range(2):
        wall.t += 100
        assert not e.collection.run_cycle()
        assert ("devices", ACCOUNT) in e.store.snapshots
        assert value(metrics, "thingspace_snapshot_published", account=ACCOUNT) == 1
    wall.t += 100
    assert not e.collection.run_cycle()
    assert ("devices", ACCOUNT) not in e.store.snapshots
    assert value(metrics, "thingspace_snapshot_published", account=ACCOUNT) == 0
    assert b"thingspace_devices{" not in e.store.derived.text


def test_with_cycles_longer_than_the_interval_one_failure_keeps_the_series(settings_factory, metrics, stop):
    """Cycles of 10 s at a 2 s interval: the default staleness (3 cycles, and 3 intervals) does not
    drop a snapshot that has missed one cycle, though it is older than 3 intervals."""
    client = StubClient()
    wall = Clock()
    e = exporter(settings_factory, metrics, stop, client, wall=wall, interval_seconds=2)
    assert e.collection.run_cycle()
    client.fail["devices"] = ApiError("server_error", "boom", "devices", 503)
    wall.t += 10
    assert not e.collection.run_cycle()
    assert ("devices", ACCOUNT) in e.store.snapshots
    del client.fail["devices"]
    wall.t += 10
    assert e.collection.run_cycle()
    client.fail["devices"] = ApiError("server_error", "boom", "devices", 503)
    for _ in range(2):
        wall.t += 10
        assert not e.collection.run_cycle()
    assert ("devices", ACCOUNT) in e.store.snapshots  # two in a row: still kept


def test_a_deadline_failure_is_not_retried_sequentially(settings_factory, metrics, stop, log_stream):
    client = StubClient()
    e = exporter(settings_factory, metrics, stop, client, max_concurrency=4)
    assert e.collection.run_cycle()  # learns the boundaries 1 and 5
    client.cursors.clear()
    client.fail["devices"] = ApiError("deadline", "cycle deadline reached", "devices")
    assert not e.collection.run_cycle()
    assert value(metrics, "thingspace_collection_errors_total", account=ACCOUNT, reason="deadline") == 1
    assert client.cursors.count("0") <= 1  # no sequential walk from the start after a deadline
    assert '"mode": "parallel"' in log_stream.getvalue()


def test_parallel_error_falls_back_to_a_sequential_walk(settings_factory, metrics, stop, log_stream):
    class GoneCursors(StubClient):
        gone = False

        def fetch(self, endpoint, path, params, deadline, parse):
            if self.gone and params["lastSeenDeviceId"] != "0":  # devices at the old boundaries left
                self.cursors.append(params["lastSeenDeviceId"])
                raise ApiError("invalid_cursor", "LastSeenDeviceId Not Valid", "devices", 400)
            return super().fetch(endpoint, path, params, deadline, parse)

    client = GoneCursors()
    e = exporter(settings_factory, metrics, stop, client, max_concurrency=4)
    assert e.collection.run_cycle()
    client.gone = True
    PAGES_ONE = {"hasMoreData": False, "deviceList": [{"deviceId": "1", "make": "M"}]}
    original = PAGES["0"]
    PAGES["0"] = PAGES_ONE
    try:
        assert e.collection.run_cycle()
    finally:
        PAGES["0"] = original
    assert client.cursors[-1] == "0"  # the sequential walk started over
    assert "parallel_listing_fallback" in log_stream.getvalue()
    assert e.store.get("devices", ACCOUNT).data.count == 1


def test_stop_ends_the_loop_promptly(settings_factory, metrics, stop):
    e = exporter(settings_factory, metrics, stop, interval_seconds=3600)
    e.collection.start()
    stop.set()
    e.collection.thread.join(10)
    assert not e.collection.thread.is_alive()


ACCOUNTS = [f"0000123456-{i:05d}" for i in range(1, 21)]


class Watched:
    """Runner.run_account wrapped: the accounts in flight, the most at once, the order of starts;
    `hold` keeps an account running until released."""

    def __init__(self, e: Exporter) -> None:
        self.run = e.runner.run_account
        self.lock = threading.Lock()
        self.in_flight: set[str] = set()
        self.most, self.starts, self.done = 0, [], []
        self.hold: dict[str, threading.Event] = {}
        e.runner.run_account = self  # type: ignore[method-assign]

    def __call__(self, account: str) -> bool:
        with self.lock:
            self.in_flight.add(account)
            self.most = max(self.most, len(self.in_flight))
            self.starts.append(account)
        try:
            if account in self.hold:
                assert self.hold[account].wait(30)
            return self.run(account)
        finally:
            with self.lock:
                self.in_flight.discard(account)
                self.done.append(account)


def test_accounts_run_through_a_bounded_pool(settings_factory, metrics, stop):
    e = exporter(settings_factory, metrics, stop, accounts=",".join(ACCOUNTS), max_accounts_in_flight=3)
    watched = Watched(e)
    before = threading.active_count()
    peak = [0]
    real = watched.run

    def run(account: str) -> bool:
        peak[0] = max(peak[0], threading.active_count() - before)
        return real(account)

    watched.run = run
    assert e.collection.run_cycle()
    assert sorted(watched.starts) == ACCOUNTS and watched.most <= 3
    assert peak[0] <= 3 * e.settings.max_concurrency  # workers, and the listings' own threads
    assert all(e.store.get("devices", a) is not None for a in ACCOUNTS)


def test_a_slow_account_does_not_hold_back_the_others(settings_factory, metrics, stop):
    """One account held: the other 19 all finish through the pool's other workers meanwhile, and
    the next cycle starts the slow one first, before any account's second run."""
    e = exporter(settings_factory, metrics, stop, accounts=",".join(ACCOUNTS), max_accounts_in_flight=2)
    watched = Watched(e)
    slow = ACCOUNTS[0]
    watched.hold[slow] = threading.Event()
    cycle = threading.Thread(target=e.collection.run_cycle)
    cycle.start()
    try:
        for _ in range(3000):  # up to 30 s
            with watched.lock:
                if len(watched.done) == len(ACCOUNTS) - 1:
                    break
            time.sleep(0.01)
        assert sorted(watched.done) == sorted(set(ACCOUNTS) - {slow})
        assert e.view.healthy() == (True, "ok")  # accounts waiting or done are not late
    finally:
        watched.hold[slow].set()
        cycle.join(30)
    del watched.hold[slow]
    e.collection.took[slow] = 100.0  # as if it had taken longest on the clock as well
    assert e.collection.run_cycle()
    first, second = watched.starts[: len(ACCOUNTS)], watched.starts[len(ACCOUNTS) :]
    assert sorted(first) == ACCOUNTS and sorted(second) == ACCOUNTS
    assert second[0] == slow


def test_while_one_account_runs_long_the_others_keep_their_interval(settings_factory, metrics, stop):
    """The running loop: one account held for a long listing, the other 19 each run again and again
    at their own interval meanwhile, through the pool's one other worker; threads stay bounded and
    every account's first run comes before any second."""
    e = exporter(
        settings_factory, metrics, stop, accounts=",".join(ACCOUNTS), max_accounts_in_flight=2, interval_seconds=0.05
    )
    watched = Watched(e)
    slow = ACCOUNTS[0]
    watched.hold[slow] = threading.Event()
    before = threading.active_count()
    e.collection.start()

    def runs(account: str) -> int:
        with watched.lock:
            return watched.starts.count(account)

    try:
        assert wait_for(lambda: all(runs(a) >= 3 for a in ACCOUNTS[1:]), 30)
        assert runs(slow) == 1
        assert watched.most <= 2 and threading.active_count() - before <= 1 + 2 * e.settings.max_concurrency
        assert e.view.ready() is False  # the held account has not finished its first run
        assert e.view.healthy() == (True, "ok")
        assert value(metrics, "thingspace_collection_cycles_total") >= 3  # rounds started
        assert sorted(watched.starts[: len(ACCOUNTS)]) == ACCOUNTS
    finally:
        watched.hold[slow].set()
    assert wait_for(e.view.ready, 30)
    stop.set()
    e.collection.thread.join(10)
    assert not e.collection.thread.is_alive()
