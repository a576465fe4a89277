"""Staleness, lockout safety, counters and recovery, against the simulator over HTTP."""

from __future__ import annotations

import time

from thingspace_exporter.thingspace import auth

from .conftest import assert_matches, counter, exposition, samples, value

A, B = "0000123456-00001", "0000123456-00002"


def test_failing_account_keeps_snapshot_until_stale_then_recovers(sim_factory, exporter_factory):
    sim = sim_factory({A: 1500, B: 300})
    # the device list only: two failed cycles in a row, the second one 1 s after the last success
    exp = exporter_factory(sim, stale_after_cycles=2, stale_after_seconds=1.0, max_concurrency=1, collectors="devices")
    assert exp.collection.run_cycle()
    first = exposition(exp)
    last_success = value(first, "thingspace_last_success_timestamp_seconds", account=A)

    sim.faults.schedule("stuck_cursor", count=1000)  # every listing fails now
    assert not exp.collection.run_cycle()
    text = exposition(exp)
    assert value(text, "thingspace_up", account=A) == 0.0
    assert value(text, "thingspace_collection_errors_total", account=A, reason="stuck_cursor") == 1.0
    assert samples(text) == samples(first)  # the last complete snapshot is still published
    assert value(text, "thingspace_last_success_timestamp_seconds", account=A) == last_success

    time.sleep(1.2)
    assert not exp.collection.run_cycle()
    text = exposition(exp)
    assert value(text, "thingspace_devices_by_protocol", account=A) is None  # dropped: stale
    assert value(text, "thingspace_snapshot_published", account=A) == 0.0
    assert value(text, "thingspace_last_success_timestamp_seconds", account=A) == last_success

    sim.faults._plan.clear()
    assert exp.collection.run_cycle()
    text = exposition(exp)
    assert value(text, "thingspace_up", account=A) == 1.0
    assert_matches(text, sim, [A, B])


def test_persistent_fault_fails_one_account_only(sim_factory, exporter_factory):
    sim = sim_factory({A: 1500, B: 300})
    exp = exporter_factory(sim, max_concurrency=1, accounts=[A])
    other = exporter_factory(sim, max_concurrency=1, accounts=[B])
    assert exp.collection.run_cycle() and other.collection.run_cycle()
    # malformed JSON is retried once, so it must come twice in a row to fail the listing
    for kind, reason, count in (
        ("empty_page", "empty_page", 1),
        ("invalid_cursor", "invalid_cursor", 1),
        ("malformed_json", "bad_json", 2),
        ("stuck_cursor", "stuck_cursor", 1),
    ):
        sim.faults.schedule(kind, count=count, after=1)
        assert not exp.collection.run_cycle(), kind
        assert other.collection.run_cycle()
        text = exposition(exp)
        assert value(text, "thingspace_collection_errors_total", account=A, reason=reason) == 1.0, kind
        assert value(text, "thingspace_up", account=A) == 0.0
        assert exp.collection.run_cycle(), kind  # the next cycle recovers
        assert_matches(exposition(exp), sim, [A])
        assert_matches(exposition(other), sim, [B])


def test_rejected_password_is_tried_twice_then_backed_off(sim_factory, exporter_factory, log_stream, monkeypatch):
    sim = sim_factory({A: 100, B: 100})
    exp = exporter_factory(sim, password="wrong-password-123")
    assert not exp.collection.run_cycle()
    assert sim.requests["login"] == 1  # the second account of the cycle does not try again
    monkeypatch.setattr(auth, "FIRST_REJECTION_PAUSE", 0.0)  # as if the next cycle had come
    exp.auth.login_guard.retry_at = 0.0
    for _ in range(5):
        assert not exp.collection.run_cycle()
    assert sim.requests["login"] == 2 and sim.requests["login_failed"] == 2
    assert not sim.locked
    text = exposition(exp)
    assert value(text, "thingspace_auth_rejections_total", kind="login") == 2.0
    assert value(text, "thingspace_auth_backoff_seconds", kind="login") > 0
    errors = counter(text, "thingspace_collection_errors_total")
    by_reason = {
        r: sum(v for k, v in errors.items() if ("reason", r) in k) for r in ("credentials_rejected", "auth_backoff")
    }
    assert by_reason == {"credentials_rejected": 2, "auth_backoff": 10}  # 6 cycles x 2 accounts
    assert "THINGSPACE_PASSWORD" in log_stream.getvalue()
    assert "wrong-password-123" not in log_stream.getvalue() + text


def test_rejected_client_secret_is_tried_twice_then_backed_off(sim_factory, exporter_factory, monkeypatch):
    monkeypatch.setattr(auth, "FIRST_REJECTION_PAUSE", 0.0)  # cycles back to back stand for cycles apart
    sim = sim_factory({A: 100})
    exp = exporter_factory(sim, client_secret="wrong-secret-456")
    for _ in range(5):
        assert not exp.collection.run_cycle()
    assert sim.requests["token"] == 2 and sim.requests["login"] == 0
    assert value(exposition(exp), "thingspace_auth_rejections_total", kind="oauth") == 2.0


def test_counters_never_go_backwards(sim_factory, exporter_factory):
    sim = sim_factory({A: 2100, B: 50})
    sim.faults.rates.update(rate_limit=0.2, html_503=0.1)
    exp = exporter_factory(sim, max_retries=6)
    previous: dict = {}
    for _ in range(4):
        exp.collection.run_cycle()
        sim.advance()
        text = exposition(exp)
        for name in (
            "thingspace_api_requests_total",
            "thingspace_pages_fetched_total",
            "thingspace_api_retries_total",
            "thingspace_collection_cycles_total",
        ):
            now = counter(text, name)
            for labels, v in previous.get(name, {}).items():
                assert now[labels] >= v, (name, labels)
            previous[name] = now
    assert sum(previous["thingspace_api_retries_total"].values()) > 0
