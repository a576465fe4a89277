"""running: each collector timed, its errors counted and its snapshot published on its own."""

from __future__ import annotations

import time

from thingspace_exporter.collection.runner import Runner
from thingspace_exporter.collection.snapshots import SnapshotStore
from thingspace_exporter.thingspace.errors import ApiError
from ts_builders import ACCOUNT, sample


class Fake:
    endpoints = ()

    def __init__(self, name, result=None, fail=None):
        self.name, self.result, self.fail, self.seen = name, result, fail, []
        self.account_series = name == "devices"  # as the real device collector declares

    def collect(self, account, deadline, context):
        self.seen.append(dict(context))
        if self.fail is not None:
            raise self.fail
        return self.result

    def families(self, snapshots):
        return []

    def summary(self, data):
        return {"value": data}


def runner(settings_factory, metrics, log, *collectors, wall=time.time, **kw):
    store = SnapshotStore(lambda snaps: None)
    return Runner(settings_factory(**kw), store, metrics, log, list(collectors), wall=wall)


def test_a_failing_collector_leaves_the_others_published(settings_factory, metrics, log):
    devices, campaigns = Fake("devices", 1), Fake("campaigns", 2)
    r = runner(settings_factory, metrics, log, devices, campaigns)
    assert r.run_account(ACCOUNT)
    campaigns.fail, campaigns.result, devices.result = ApiError("server_error", "boom", "campaigns"), 3, 4
    assert r.run_account(ACCOUNT) is False
    assert r.store.get("devices", ACCOUNT).data == 4
    assert r.store.get("campaigns", ACCOUNT).data == 2  # the last complete one stays
    assert sample(metrics, "thingspace_collector_up", account=ACCOUNT, collector="campaigns") == 0
    assert sample(metrics, "thingspace_collector_up", account=ACCOUNT, collector="devices") == 1
    assert (
        sample(
            metrics, "thingspace_collector_errors_total", account=ACCOUNT, collector="campaigns", reason="server_error"
        )
        == 1
    )
    # the account-level series tell of the device list only
    assert sample(metrics, "thingspace_up", account=ACCOUNT) == 1
    assert sample(metrics, "thingspace_collection_errors_total", account=ACCOUNT, reason="server_error") == 0
    assert r.outcomes[ACCOUNT, "campaigns"].reason == "server_error"


def test_a_bug_in_a_collector_is_an_internal_error_and_the_next_one_still_runs(
    settings_factory, metrics, log, log_stream
):
    broken, after = Fake("firmware", fail=KeyError("x")), Fake("licenses", 5)
    r = runner(settings_factory, metrics, log, broken, after)
    assert r.run_account(ACCOUNT) is False
    assert r.store.get("licenses", ACCOUNT).data == 5
    assert (
        sample(
            metrics, "thingspace_collector_errors_total", account=ACCOUNT, collector="firmware", reason="internal_error"
        )
        == 1
    )
    assert "collection_crashed" in log_stream.getvalue()


def test_each_collector_sees_what_those_before_it_published(settings_factory, metrics, log):
    devices, firmware = Fake("devices", "listing-1"), Fake("firmware", "paths")
    r = runner(settings_factory, metrics, log, devices, firmware)
    r.run_account(ACCOUNT)
    devices.fail = ApiError("timeout", "slow", "devices")
    r.run_account(ACCOUNT)
    assert firmware.seen == [{"devices": "listing-1"}, {"devices": "listing-1"}]  # the last published


def test_a_stale_snapshot_is_dropped_for_that_collector_only(settings_factory, metrics, log):
    devices, licenses = Fake("devices", 1), Fake("licenses", 2)
    now = [1000.0]
    r = runner(
        settings_factory,
        metrics,
        log,
        devices,
        licenses,
        wall=lambda: now[0],
        stale_after_cycles=2,
        stale_after_seconds=1,
    )
    r.run_account(ACCOUNT)
    licenses.fail = ApiError("timeout", "slow", "subscriptions")
    now[0] += 10
    r.run_account(ACCOUNT)
    assert r.store.get("licenses", ACCOUNT) is not None  # one failed cycle: kept
    r.run_account(ACCOUNT)
    assert r.store.get("licenses", ACCOUNT) is None and r.store.get("devices", ACCOUNT) is not None
    assert sample(metrics, "thingspace_snapshot_published", account=ACCOUNT) == 1


def test_durations_are_published_per_collector(settings_factory, metrics, log):
    r = runner(settings_factory, metrics, log, Fake("devices", 1))
    r.run_account(ACCOUNT)
    assert sample(metrics, "thingspace_collector_duration_seconds", account=ACCOUNT, collector="devices") > 0
