"""The installed command in --once and server mode, as operators and the acceptance checks run it."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import requests

from .conftest import PYTHON, SECRETS, assert_matches, exporter_env, free_port, value
from .containers import wait_for

ACCOUNTS = {"0000123456-00001": 2300, "0000123456-00002": 400}


def test_once_prints_exact_metrics_and_exits_0(sim_factory):
    sim = sim_factory(ACCOUNTS, session_idle=3600)
    sim.faults.schedule("rate_limit", after=1)
    sim.faults.schedule("html_503", after=2)
    proc = subprocess.run(
        [PYTHON, "-m", "thingspace_exporter", "--once"],
        env=exporter_env(sim, ACCOUNTS),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode()
    assert_matches(text, sim, ACCOUNTS)
    assert sim.faults.injected["rate_limit"] == 1 and sim.faults.injected["html_503"] == 1
    summaries = [json.loads(line) for line in proc.stderr.decode().splitlines() if "collection_finished" in line]
    assert sorted((s["account"], s["collector"], s["outcome"]) for s in summaries) == sorted(
        (a, c, "success") for a in ACCOUNTS for c in ("devices", "firmware", "licenses", "campaigns")
    )
    for secret in SECRETS:
        assert secret.encode() not in proc.stdout + proc.stderr
    assert sim.requests["logout"] == 1


def test_once_exits_1_when_an_account_fails(sim_factory):
    sim = sim_factory(ACCOUNTS)
    sim.faults.schedule("invalid_cursor", count=100, after=1)
    proc = subprocess.run(
        [PYTHON, "-m", "thingspace_exporter", "--once"],
        env=exporter_env(sim, ACCOUNTS, max_concurrency=1),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert 0.0 in {value(proc.stdout.decode(), "thingspace_up", account=a) for a in ACCOUNTS}


def cycles(base: str) -> float:
    return value(requests.get(base + "/metrics", timeout=5).text, "thingspace_collection_cycles_total") or 0.0


def test_server_mode_ready_exact_and_stops_on_sigterm(sim_factory):
    sim = sim_factory(ACCOUNTS)
    port = free_port()
    env = exporter_env(sim, ACCOUNTS, listen_address=f"127.0.0.1:{port}", interval_seconds=1)
    proc = subprocess.Popen(
        [PYTHON, "-m", "thingspace_exporter"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(base + "/-/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "never became ready"
            time.sleep(0.1)
        sim.faults.schedule("session_expiry", after=1)
        wait_for("the expired session", lambda: sim.faults.injected["session_expiry"] == 1, 60)
        started_then = cycles(base)
        wait_for("a cycle after it", lambda: cycles(base) >= started_then + 2, 60)  # the one it hit has ended
        resp = requests.get(base + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5)
        assert resp.headers["Content-Encoding"] == "gzip"
        assert_matches(resp.text, sim, ACCOUNTS)
        assert requests.get(base + "/-/healthy", timeout=1).status_code == 200
        assert sim.faults.injected["session_expiry"] == 1
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 2.0
    finally:
        proc.kill()
        out, err = proc.communicate()
    assert sim.requests["logout"] >= 1
    for secret in SECRETS:
        assert secret.encode() not in out + err
