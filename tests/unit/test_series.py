"""series: per-account live metrics as one dict a family, rendered exactly as prometheus_client's."""

from __future__ import annotations

import tracemalloc

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as om
from thingspace_exporter import series

ODD = ['we"ird\\acc\nx', "ü-1", "", "0000123456-00001"]


def both(build):
    """The same calls on prometheus_client's Gauge and Counter and on series'."""
    registries = []
    for gauge, counter in ((prometheus_client.Gauge, prometheus_client.Counter), (series.Gauge, series.Counter)):
        r = CollectorRegistry(auto_describe=True)
        build(r, gauge, counter)
        registries.append(r)
    return registries


def calls(r, gauge, counter):
    up = gauge("thingspace_up", 'Up "or" not\\ at all.\nSecond line.', ["account"], registry=r)
    errors = counter("thingspace_collector_errors", "Errors.", ["account", "collector", "reason"], registry=r)
    dur = gauge("thingspace_collection_duration_seconds", "Seconds.", ["account"], registry=r)
    empty = counter("thingspace_pages_fetched", "Pages.", ["account"], registry=r)
    assert empty is not None
    for account in ODD:
        up.labels(account).set(0)
        errors.labels(account, "devices", "timeout")
    up.labels(ODD[1]).set(1)
    up.labels(ODD[2]).inc(-2.5)
    errors.labels(ODD[0], "devices", "timeout").inc()
    errors.labels(ODD[3], "firmware", "deadline").inc(2.5)
    dur.labels(ODD[3]).set(1e-7)
    dur.labels(ODD[0]).set(float("inf"))
    dur.labels(ODD[1]).set(1700000000.123456)


def test_series_render_byte_for_byte_as_prometheus_clients_gauges_and_counters():
    theirs, ours = both(calls)
    assert generate_latest(ours) == generate_latest(theirs)
    assert om.generate_latest(ours) == om.generate_latest(theirs)
    assert b'thingspace_collector_errors_total{account="0000123456-00001",collector="firmware"' in generate_latest(ours)


def test_labels_create_the_series_at_zero_and_the_registry_reads_them():
    r = CollectorRegistry(auto_describe=True)
    pages = series.Counter("thingspace_pages_fetched", "Pages.", ["account"], registry=r)
    up = series.Gauge("thingspace_up", "Up.", ["account"], registry=r)
    pages.labels("a")
    up.labels("a").set(True)
    pages.labels("b").inc(3)
    assert r.get_sample_value("thingspace_pages_fetched_total", {"account": "a"}) == 0
    assert r.get_sample_value("thingspace_pages_fetched_total", {"account": "b"}) == 3
    assert r.get_sample_value("thingspace_up", {"account": "a"}) == 1


def test_a_counter_refuses_to_go_down_and_label_counts_are_checked():
    r = CollectorRegistry(auto_describe=True)
    errors = series.Counter("thingspace_collection_errors", "Errors.", ["account", "reason"], registry=r)
    with pytest.raises(ValueError):
        errors.labels("a", "timeout").inc(-1)
    with pytest.raises(ValueError):
        errors.labels("a")
    with pytest.raises(ValueError):  # the registry refuses a second family of the same name
        series.Gauge("thingspace_collection_errors", "Again.", ["account"], registry=r)


def allocated(family_type, accounts: int) -> int:
    r = CollectorRegistry(auto_describe=True)
    names = [f"0000123456-{i:05d}" for i in range(accounts)]
    tracemalloc.start()
    try:
        family = family_type("thingspace_collection_errors", "Errors.", ["account", "reason"], registry=r)
        for name in names:
            for reason in ("timeout", "connection", "server_error", "rate_limited"):
                family.labels(name, reason).inc()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_a_series_costs_a_fraction_of_a_prometheus_client_child():
    ours, theirs = allocated(series.Counter, 1000), allocated(prometheus_client.Counter, 1000)
    assert ours < theirs / 3, (ours, theirs)
