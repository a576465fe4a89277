"""Password floods, odd credentials and SIGTERM mid-check against the exporter process (basic auth
at bcrypt cost 10, plain HTTP over loopback): behaviour only, the figures are for bench/."""

from __future__ import annotations

import base64
import gzip
import http.client
import signal
import socket
import subprocess
import threading
import time
import zlib

import bcrypt
import pytest

from .conftest import PYTHON, SECRETS, exporter_env, free_port

ACCOUNTS = {"0000123456-00001": 300}
HASH = bcrypt.hashpw(b"scrape-pass", bcrypt.gensalt(10)).decode()


def basic(password: str | bytes, user: bytes = b"prometheus") -> dict:
    raw = password.encode() if isinstance(password, str) else password
    return {"Authorization": "Basic " + base64.b64encode(user + b":" + raw).decode()}


def get(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def start(sim, tmp_path, extra=""):
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: {HASH}\n{extra}")
    port = free_port()
    log = tmp_path / "exporter.log"
    proc = subprocess.Popen(
        [PYTHON, "-m", "thingspace_exporter"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=exporter_env(sim, ACCOUNTS, listen_address=f"127.0.0.1:{port}", web_config_file=str(web)),
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if get(port, "/-/ready")[0] == 200:
                return proc, port, log
        except OSError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
        time.sleep(0.2)


@pytest.fixture
def running(sim_factory, tmp_path):
    proc, port, log = start(sim_factory(ACCOUNTS), tmp_path)
    yield port, log
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def hit_and_run(port, password: str, n: int) -> None:
    """Wrong passwords, each socket closed right after sending."""
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port))
        except OSError:
            return  # the exporter has stopped
        with s:
            s.sendall(
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: "
                + basic(f"{password}{i}")["Authorization"].encode()
                + b"\r\n\r\n"
            )


def test_a_wrong_password_burst_gets_429_and_probes_and_cached_scrapes_are_served(running):
    port, log = running
    assert get(port, "/metrics", basic("scrape-pass"))[0] == 200  # now cached
    hit_and_run(port, "gone", 300)
    assert get(port, "/-/healthy")[0] == 200
    assert get(port, "/metrics", basic("scrape-pass"))[0] == 200
    answers = [get(port, "/metrics", basic(f"wrong{i}")) for i in range(12)]
    assert {status for status, _, _ in answers} <= {401, 429}
    refused = [headers for status, headers, _ in answers if status == 429]
    assert refused and all(int(h["Retry-After"]) >= 1 for h in refused)
    text = log.read_text()
    assert "http_app_error" not in text and "scrape-pass" not in text and HASH not in text
    assert all(s not in text for s in SECRETS)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic " + "é" * 8},
        basic("x" * 73),
        basic(b"\xff\xfe"),
        basic("pw", user="é".encode()),
    ],
)
def test_odd_credentials_are_refused_without_a_5xx(running, headers):
    port, log = running
    status = get(port, "/metrics", {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()})[0]
    assert status in (400, 401)
    assert "http_app_error" not in log.read_text()


def test_one_gzip_member_and_the_0_0_4_text_unless_more_is_asked_for(running):
    port, _ = running
    status, headers, data = get(port, "/metrics", {**basic("scrape-pass"), "Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    one = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = one.decompress(data)
    assert one.eof and one.unused_data == b"" and text == gzip.decompress(data)
    assert b"thingspace_up{" in text
    om = get(port, "/metrics", {**basic("scrape-pass"), "Accept": "application/openmetrics-text; version=1.0.0"})
    assert om[1]["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")


def test_sigterm_with_password_checks_queued_exits_0(sim_factory, tmp_path):
    sim = sim_factory(ACCOUNTS)
    for _ in range(3):
        proc, port, _ = start(sim, tmp_path)
        flood = [threading.Thread(target=hit_and_run, args=(port, f"t{i}-", 40), daemon=True) for i in range(4)]
        for t in flood:
            t.start()
        time.sleep(0.3)  # checks queued and running
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        for t in flood:
            t.join(10)
