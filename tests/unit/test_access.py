"""access: basic auth checked with bcrypt once per credential, client names, open health paths,
and a web configuration reloaded when its files change (a bad new version leaves the old one)."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import bcrypt
import pytest
from thingspace_exporter.web import access as access_module
from thingspace_exporter.web.access import Access
from thingspace_exporter.web.webconfig import load

HASH = bcrypt.hashpw(b"scrape-pass", bcrypt.gensalt(4)).decode()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def web(tmp_path, log):
    path = tmp_path / "web.yml"
    path.write_text(
        f"basic_auth_users:\n  prometheus: {HASH}\n"
        "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    )
    return Access(str(path), load(str(path)), log)


def request(path="/metrics", authorization=None, cert=None):
    environ = {"PATH_INFO": path}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    if cert is not None:
        environ["ssl.peercert"] = cert
    return environ


@pytest.mark.parametrize(
    "header",
    [
        None,
        basic("prometheus", "wrong"),
        basic("nobody", "scrape-pass"),
        "Bearer x",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
    ],
)
def test_wrong_or_missing_credentials_get_401_with_a_challenge(web, header):
    status, headers = web.authorize(request(authorization=header))
    assert status == "401 Unauthorized" and headers[0][0] == "WWW-Authenticate"


def test_the_right_password_passes_and_health_paths_stay_open(web):
    assert web.authorize(request("/metrics", basic("prometheus", "scrape-pass"))) is None
    assert web.authorize(request("/", basic("prometheus", "scrape-pass"))) is None
    assert web.authorize(request("/-/healthy")) is None and web.authorize(request("/-/ready")) is None
    assert web.authorize(request("/")) is not None
    assert web.headers() == (("X-Content-Type-Options", "nosniff"),)


def test_a_credential_is_checked_with_bcrypt_once(web, monkeypatch):
    checks = []
    real = bcrypt.checkpw
    monkeypatch.setattr(access_module.bcrypt, "checkpw", lambda pw, h: checks.append(pw) or real(pw, h))
    for _ in range(20):  # twenty scrapes
        assert web.authorize(request(authorization=basic("prometheus", "scrape-pass"))) is None
    assert len(checks) == 1
    web.authorize(request(authorization=basic("nobody", "x")))  # an unknown user costs a check too
    assert len(checks) == 2


def test_client_certificate_names(tmp_path, log):
    path = tmp_path / "web.yml"
    path.write_text("")
    web = Access(str(path), load(str(path)), log)
    web.config = web.config.__class__(allowed_sans=frozenset({"scraper"}))
    assert web.authorize(request(cert={"subjectAltName": (("DNS", "scraper"),)})) is None
    assert web.authorize(request(cert={"subjectAltName": (("DNS", "intruder"),)}))[0] == "403 Forbidden"
    assert web.authorize(request(cert={}))[0] == "403 Forbidden"


def test_changes_are_picked_up_and_a_broken_file_keeps_the_last_good_one(web, log_stream):
    switched = []
    web.on_tls = switched.append
    assert web.reload_if_changed() is False  # nothing changed
    new_hash = bcrypt.hashpw(b"rotated", bcrypt.gensalt(4)).decode()
    (path := Path(web.path)).write_text(f"basic_auth_users:\n  prometheus: {new_hash}\n")
    assert web.reload_if_changed() is True and switched == [None]
    assert web.authorize(request(authorization=basic("prometheus", "rotated"))) is None
    assert web.authorize(request(authorization=basic("prometheus", "scrape-pass"))) is not None
    path.write_text("basic_auth_users: [broken\n")
    assert web.reload_if_changed() is False
    assert web.authorize(request(authorization=basic("prometheus", "rotated"))) is None  # still the last good one
    assert "web_config_invalid" in log_stream.getvalue() and new_hash not in log_stream.getvalue()


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + "é" * 8,  # non-ASCII: b64decode raises a plain ValueError
        "Basic \x00\x01",
        basic("prometheus", "x" * 73),  # over bcrypt's 72 bytes: bcrypt 5 raises
        basic("prometheus", "é" * 40),
    ],
)
def test_malformed_or_overlong_credentials_are_a_401_never_an_error(web, header):
    assert web.authorize(request(authorization=header)) == access_module.UNAUTHORIZED


def test_unknown_users_cost_the_highest_configured_cost(tmp_path, log, monkeypatch):
    cheap, dear = bcrypt.hashpw(b"a", bcrypt.gensalt(4)).decode(), bcrypt.hashpw(b"b", bcrypt.gensalt(6)).decode()
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  a: {cheap}\n  b: {dear}\n")
    web = Access(str(path), load(str(path)), log)
    made = []
    real = bcrypt.gensalt
    monkeypatch.setattr(access_module.bcrypt, "gensalt", lambda rounds=12: made.append(rounds) or real(rounds))
    assert web.authorize(request(authorization=basic("nobody", "x"))) is not None
    assert made == [6]


def deferred(web, header, addr="192.0.2.1"):
    """Through defer() as the server calls it; the verdict once the check is done."""
    environ = {**request(authorization=header), "REMOTE_ADDR": addr}
    done = threading.Event()
    if web.defer(environ, done.set):
        assert done.wait(10)
    return web.authorize(environ)


def test_checks_run_on_the_checker_and_cached_credentials_need_none(web, monkeypatch):
    threads = []
    real = bcrypt.checkpw
    monkeypatch.setattr(
        access_module.bcrypt, "checkpw", lambda pw, h: threads.append(threading.current_thread().name) or real(pw, h)
    )
    assert deferred(web, basic("prometheus", "scrape-pass")) is None
    environ = {**request(authorization=basic("prometheus", "scrape-pass")), "REMOTE_ADDR": "192.0.2.1"}
    assert web.defer(environ, lambda: None) is False  # cached: decided at once
    assert web.authorize(environ) is None
    assert threads == ["password-check"]
    web.close()


def test_failed_checks_past_a_burst_get_429_with_retry_after_per_address(web):
    for i in range(access_module.FAILURES_BURST):
        assert deferred(web, basic("prometheus", f"wrong{i}")) == access_module.UNAUTHORIZED
    status, headers = deferred(web, basic("prometheus", "wrong-again"))
    assert status == "429 Too Many Requests" and int(dict(headers)["Retry-After"]) >= 1
    assert deferred(web, basic("prometheus", "other"), addr="192.0.2.2") == access_module.UNAUTHORIZED
    assert deferred(web, basic("prometheus", "scrape-pass"), addr="192.0.2.2") is None
    web.close()


def test_a_full_queue_answers_429_and_checks_for_gone_clients_are_skipped(web, monkeypatch):
    gate = threading.Event()
    real = bcrypt.checkpw
    monkeypatch.setattr(access_module.bcrypt, "checkpw", lambda pw, h: gate.wait(10) and real(pw, h))
    resumed = []
    first = {**request(authorization=basic("prometheus", "a")), "REMOTE_ADDR": "192.0.2.9"}
    assert web.defer(first, lambda: resumed.append("first"))  # the checker takes it and waits
    gone = []
    for i in range(access_module.QUEUE_SIZE + 1):
        environ = {
            **request(authorization=basic("prometheus", f"p{i}")),
            "REMOTE_ADDR": f"198.51.100.{i}",
            access_module.CONNECTED: lambda: False,
        }
        gone.append((environ, web.defer(environ, lambda: resumed.append("gone"))))
    assert [queued for _, queued in gone].count(False) >= 1
    refused = next(environ for environ, queued in gone if not queued)
    assert web.authorize(refused)[0] == "429 Too Many Requests"
    gate.set()
    deadline = time.monotonic() + 10
    while web._queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.01)
    web.close()
    assert resumed == ["first"]  # nobody was waiting for the others


def test_rate_limit_applies_to_all_but_the_probes(tmp_path, log):
    path = tmp_path / "web.yml"
    path.write_text("rate_limit:\n  interval: 1h\n  burst: 2\n")
    web = Access(str(path), load(str(path)), log)
    assert [deferred(web, None) for _ in range(2)] == [None, None]
    status, headers = deferred(web, None)
    assert status == "429 Too Many Requests" and ("Retry-After", "3600") in headers
    assert web.defer(request("/-/healthy"), lambda: None) is False and web.authorize(request("/-/healthy")) is None
