"""A secured /metrics, as Prometheus meets it: the exporter process with a web configuration of
TLS, required client certificates and basic auth, against the simulator over loopback."""

from __future__ import annotations

import base64
import http.client
import signal
import ssl
import subprocess
import time

import bcrypt
import pytest

from tests.pki import make_pki

from .conftest import PYTHON, SECRETS, exporter_env, free_port

ACCOUNTS = {"0000123456-00001": 1500}
HASH = bcrypt.hashpw(b"scrape-pass", bcrypt.gensalt(4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def auth(password):
    return {"Authorization": "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode()}


def client_context(pki, cert=True):
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert:
        context.load_cert_chain(pki / "client.crt", pki / "client.key")
    return context


def get(port, path, context=None, headers=None):
    conn = (
        http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
        if context
        else http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    )
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.fixture
def secured(sim_factory, pki, tmp_path):
    sim = sim_factory(ACCOUNTS)
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {pki / 'server.crt'}\n  key_file: {pki / 'server.key'}\n"
        f"  client_ca_file: {pki / 'ca.crt'}\n  client_auth_type: RequireAndVerifyClientCert\n"
        f"basic_auth_users:\n  prometheus: {HASH}\n"
    )
    port = free_port()
    log = open(tmp_path / "exporter.log", "wb")
    proc = subprocess.Popen(
        [PYTHON, "-m", "thingspace_exporter"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=exporter_env(
            sim, ACCOUNTS, listen_address=f"127.0.0.1:{port}", web_config_file=str(web), interval_seconds=60
        ),
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if get(port, "/-/ready", client_context(pki))[0] == 200:
                    break
            except (OSError, ssl.SSLError):
                pass
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "exporter.log").read_text()
            time.sleep(0.2)
        yield port, web, tmp_path / "exporter.log"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


def test_tls_client_certificates_and_basic_auth(secured, pki):
    port, _, log = secured
    status, _, body = get(port, "/metrics", client_context(pki), auth("scrape-pass"))
    assert status == 200 and b'thingspace_up{account="0000123456-00001"} 1.0' in body
    assert get(port, "/metrics", client_context(pki), auth("wrong"))[0] == 401
    status, headers, _ = get(port, "/metrics", client_context(pki))
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert get(port, "/-/healthy", client_context(pki))[0] == 200  # probes need no password
    with pytest.raises((ssl.SSLError, ConnectionError)):  # no client certificate: refused
        get(port, "/metrics", client_context(pki, cert=False), auth("scrape-pass"))
    with pytest.raises((http.client.HTTPException, ConnectionError)):  # plain HTTP gets no answer
        get(port, "/metrics", headers=auth("scrape-pass"))
    assert get(port, "/metrics", client_context(pki), auth("scrape-pass"))[0] == 200  # still serving
    text = log.read_text()
    assert "scrape-pass" not in text and HASH not in text and all(s not in text for s in SECRETS)


def test_a_changed_web_config_is_picked_up_while_running(secured, pki):
    port, web, log = secured
    web.write_text(web.read_text() + "http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    deadline = time.monotonic() + 15
    while get(port, "/metrics", client_context(pki), auth("scrape-pass"))[1].get("X-Frame-Options") != "deny":
        assert time.monotonic() < deadline, "the new headers never appeared"
        time.sleep(0.5)
    web.write_text("tls_server_config: [broken\n")  # a bad edit is logged; the last good one stays
    deadline = time.monotonic() + 30
    while "web_config_invalid" not in log.read_text():
        assert time.monotonic() < deadline, "the bad edit was never reported"
        time.sleep(0.5)
    status, headers, _ = get(port, "/metrics", client_context(pki), auth("scrape-pass"))
    assert status == 200 and headers.get("X-Frame-Options") == "deny"


@pytest.mark.parametrize(
    "text,problem",
    [
        ("basic_auth_users:\n  prometheus: hunter2\n", "not a bcrypt hash"),
        ("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: k\n", "cert_file"),
    ],
)
def test_a_malformed_web_config_exits_2_with_one_line(sim_factory, tmp_path, text, problem):
    sim = sim_factory(ACCOUNTS)
    web = tmp_path / "web.yml"
    web.write_text(text)
    done = subprocess.run(
        [PYTHON, "-m", "thingspace_exporter"],
        capture_output=True,
        text=True,
        timeout=30,
        env=exporter_env(sim, ACCOUNTS, web_config_file=str(web)),
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "THINGSPACE_WEB_CONFIG_FILE" in lines[0] and problem in lines[0], done.stderr
    assert "hunter2" not in done.stderr
