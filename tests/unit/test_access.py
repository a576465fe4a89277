"""access: basic auth checked with bcrypt once per credential, client names, open health paths,
and a web configuration reloaded when its files change (a bad new version leaves the old one)."""

from __future__ import annotations

import base64
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
