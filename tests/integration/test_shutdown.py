"""Nothing hangs: signals stop the process within 2 s mid-request or mid-sleep; cycles have deadlines."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest
import requests

from .conftest import PYTHON, exporter_env, exposition, free_port, value

A = "0000123456-00001"


def start(sim, **extra) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "thingspace_exporter"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=exporter_env(sim, [A], listen_address=f"127.0.0.1:{port}", **extra),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            requests.get(base + "/-/healthy", timeout=1)
            return proc, base
        except requests.ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def stop_within_2s(proc: subprocess.Popen, sig: int) -> bytes:
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
    assert time.monotonic() - started < 2.0
    return proc.communicate()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_request_stops_within_2s_and_logs_out(sig, sim_factory):
    sim = sim_factory({A: 3000})
    sim.faults.hang_seconds = 60.0
    sim.faults.schedule("timeout", after=1)
    proc, _ = start(sim, request_timeout_seconds=60)
    deadline = time.monotonic() + 10
    while sim.faults.injected["timeout"] == 0:  # the second page request is now hanging
        assert time.monotonic() < deadline
        time.sleep(0.05)
    err = stop_within_2s(proc, sig)
    assert sim.requests["logout"] == 1
    assert b"session_logged_out" in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_sleep_stops_within_2s(sig, sim_factory):
    sim = sim_factory({A: 500})
    proc, base = start(sim, interval_seconds=3600)
    deadline = time.monotonic() + 10
    while requests.get(base + "/-/ready", timeout=1).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stop_within_2s(proc, sig)
    assert sim.requests["logout"] == 1


def test_sigterm_with_connections_held_open_stops_within_2s(sim_factory):
    sim = sim_factory({A: 500})
    proc, base = start(sim, header_timeout_seconds=60, idle_timeout_seconds=60)
    port = int(base.rsplit(":", 1)[1])
    held = []
    try:
        for i in range(300):  # half-sent requests, and kept-alive connections between requests
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(
                b"GET /metrics HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            held.append(s)
        assert requests.get(base + "/metrics", timeout=5).status_code == 200
        stop_within_2s(proc, signal.SIGTERM)
    finally:
        for s in held:
            s.close()
    assert sim.requests["logout"] == 1


def test_signal_during_retry_after_sleep_stops_within_2s(sim_factory):
    sim = sim_factory({A: 3000})
    sim.faults.schedule("rate_limit", count=50, after=1)
    proc, _ = start(sim)
    deadline = time.monotonic() + 10
    while sim.faults.injected["rate_limit"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stop_within_2s(proc, signal.SIGTERM)


def test_cycle_deadline_fails_a_slow_listing(sim_factory, exporter_factory):
    sim = sim_factory({A: 5000}, latency=0.3)
    exp = exporter_factory(sim, cycle_timeout_seconds=0.8, max_concurrency=1)
    started = time.monotonic()
    assert not exp.collection.run_cycle()
    assert time.monotonic() - started < 3
    assert value(exposition(exp), "thingspace_collection_errors_total", account=A, reason="deadline") == 1.0
