"""Collection loop: health, readiness, staleness bookkeeping, with a stub client (no HTTP)."""

from __future__ import annotations

import time

from thingspace_exporter.collection.loop import Collection
from thingspace_exporter.collection.snapshots import SnapshotStore
from thingspace_exporter.collectors.device_boundaries import Listing
from thingspace_exporter.thingspace.decoding import decode_page
from thingspace_exporter.thingspace.errors import ApiError
from thingspace_exporter.web.exposition import render

PAGE = b'{"hasMoreData": false, "deviceList": [{"deviceId": "1", "make": "M", "status": "Active"}]}'


class StubClient:
    def __init__(self, fail: ApiError | None = None) -> None:
        self.fail = fail
        self.calls = 0
        self.cursors: list[str] = []

    def device_page(self, account, cursor, deadline=None):
        self.calls += 1
        self.cursors.append(cursor)
        if self.fail:
            raise self.fail
        return decode_page(PAGE), time.time()


def make(settings_factory, metrics, log, stop, client=None, **kw):
    settings = settings_factory(**{"collectors": "devices", **kw})  # the stub lists devices only
    return Collection(settings, client or StubClient(), SnapshotStore(render), metrics, log, stop)


def test_ready_only_after_first_cycle(settings_factory, metrics, log, stop):
    coll = make(settings_factory, metrics, log, stop)
    assert not coll.ready.is_set()
    assert coll.run_cycle()
    assert coll.ready.is_set()
    assert coll.store.get("devices", "0000123456-00001").data.count == 1


def test_healthy_while_loop_runs_and_not_after_it_dies(settings_factory, metrics, log, stop):
    coll = make(settings_factory, metrics, log, stop, interval_seconds=0.05)
    coll.start()
    time.sleep(0.2)
    assert coll.healthy() == (True, "ok")
    stop.set()
    coll.thread.join(2)
    ok, why = coll.healthy()
    assert not ok and "stopped" in why


def test_unhealthy_when_a_cycle_overruns_its_deadline(settings_factory, metrics, log, stop):
    coll = make(
        settings_factory, metrics, log, stop, cycle_timeout_seconds=10, request_timeout_seconds=1, max_retries=0
    )
    coll.cycle_started = time.monotonic() - 10 - 1 - 59
    assert coll.healthy()[0]
    coll.cycle_started = time.monotonic() - 10 - 1 - 61
    ok, why = coll.healthy()
    assert not ok and "past its deadline" in why


def test_unhealthy_when_no_cycle_ran_for_too_long(settings_factory, metrics, log, stop):
    coll = make(
        settings_factory,
        metrics,
        log,
        stop,
        interval_seconds=1,
        cycle_timeout_seconds=1,
        request_timeout_seconds=1,
        max_retries=0,
    )
    coll.heartbeat = time.monotonic() - 1 - (1 + 1 + 60) - 1
    assert not coll.healthy()[0]


def test_crash_in_a_cycle_is_counted_not_fatal(settings_factory, metrics, log, stop, log_stream):
    class Broken(StubClient):
        def device_page(self, *a, **kw):
            raise KeyError("bug")

    coll = make(settings_factory, metrics, log, stop, client=Broken())
    assert coll.run_cycle() is False
    assert metrics.errors.labels("0000123456-00001", "internal_error")._value.get() == 1
    assert "collection_crashed" in log_stream.getvalue()


def test_failure_keeps_snapshot_then_drops_it_when_stale(settings_factory, metrics, log, stop):
    client = StubClient()
    coll = make(settings_factory, metrics, log, stop, client=client, stale_after_seconds=0.2)
    assert coll.run_cycle()
    client.fail = ApiError("server_error", "boom", "devices", 503)
    assert not coll.run_cycle()
    assert ("devices", "0000123456-00001") in coll.store.snapshots
    assert metrics.published.labels("0000123456-00001")._value.get() == 1
    time.sleep(0.25)
    assert not coll.run_cycle()
    assert "0000123456-00001" not in coll.store.snapshots
    assert metrics.published.labels("0000123456-00001")._value.get() == 0
    assert b"thingspace_devices{" not in coll.store.derived.text


def knows_bounds(coll, account, bounds):
    """As if an earlier listing of the account had ended its pages at `bounds`."""
    (devices,) = [c for c in coll.collectors if c.name == "devices"]
    devices.listings[account] = Listing(tuple(bounds), len(bounds) + 1, 0.1, True)
    assert coll.bounds[account] == bounds


def test_deadline_failure_is_not_retried_sequentially(settings_factory, metrics, log, stop, log_stream):
    client = StubClient()
    coll = make(settings_factory, metrics, log, stop, client=client, max_concurrency=4)
    knows_bounds(coll, "0000123456-00001", ["5", "9"])
    client.fail = ApiError("deadline", "cycle deadline reached", "devices")
    assert not coll.run_cycle()
    assert metrics.errors.labels("0000123456-00001", "deadline")._value.get() == 1
    assert client.cursors.count("0") <= 1  # no sequential walk from the start after a deadline
    assert '"mode": "parallel"' in log_stream.getvalue() and '"mode": "sequential"' not in log_stream.getvalue()


def test_parallel_error_falls_back_to_a_sequential_walk(settings_factory, metrics, log, stop, log_stream):
    class GoneCursors(StubClient):
        def device_page(self, account, cursor, deadline=None):
            self.cursors.append(cursor)
            if cursor != "0":  # the devices at the old boundaries have left
                raise ApiError("invalid_cursor", "LastSeenDeviceId Not Valid", "devices", 400)
            return decode_page(PAGE), time.time()

    client = GoneCursors()
    coll = make(settings_factory, metrics, log, stop, client=client, max_concurrency=4)
    knows_bounds(coll, "0000123456-00001", ["5", "9"])
    assert coll.run_cycle()
    assert client.cursors[-1] == "0"  # the sequential walk started over
    assert "parallel_listing_fallback" in log_stream.getvalue()
    assert coll.store.get("devices", "0000123456-00001").data.count == 1


def test_stop_ends_the_loop_promptly(settings_factory, metrics, log, stop):
    coll = make(settings_factory, metrics, log, stop, interval_seconds=3600)
    coll.start()
    time.sleep(0.1)
    started = time.monotonic()
    stop.set()
    coll.thread.join(2)
    assert not coll.thread.is_alive()
    assert time.monotonic() - started < 2
