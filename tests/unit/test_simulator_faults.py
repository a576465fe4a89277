"""Each fault kind over real HTTP, plus the CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from thingspace_exporter.simulator import Faults, Simulator
from thingspace_exporter.simulator.faults import KINDS

from tests.sim_client import signed_in

ACC = "0000123456-00001"
DEVICES = f"/api/fota/v3/devices/{ACC}"


@pytest.fixture
def env():
    faults = Faults()
    faults.slow_seconds = 0.3
    faults.hang_seconds = 30.0
    with Simulator({ACC: 1500}, faults=faults) as sim:
        http = signed_in(sim.base_url)

        def get(cursor="0", timeout=5):
            return http.get(sim.base_url + DEVICES, params={"lastSeenDeviceId": cursor}, timeout=timeout)

        yield sim, faults, get


def test_every_kind_is_covered_here():
    assert set(KINDS) == set(EXPECTED_STATUS) | {
        "slow",
        "timeout",
        "truncated_json",
        "malformed_json",
        "stuck_cursor",
        "empty_page",
        "token_expiry",
        "session_expiry",
    }


EXPECTED_STATUS = {
    "rate_limit": 429,
    "server_error": 500,
    "bad_gateway": 502,
    "unavailable": 503,
    "gateway_timeout": 504,
    "html_503": 503,
    "session_invalid": 400,
    "session_format": 400,
    "invalid_cursor": 400,
}


@pytest.mark.parametrize("kind", sorted(EXPECTED_STATUS))
def test_error_faults_answer_once_then_normal(env, kind):
    sim, faults, get = env
    faults.schedule(kind)
    r = get()
    assert r.status_code == EXPECTED_STATUS[kind]
    if kind == "html_503":
        assert r.headers["Content-Type"].startswith("text/html") and r.text.lstrip().startswith("<html>")
    else:
        assert r.headers["Content-Type"] == "application/json" and isinstance(r.json(), dict)
    if kind == "rate_limit":
        assert r.headers["Retry-After"] == "1"
    if kind == "session_invalid":
        assert r.json()["errorCode"] == "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid"
    if kind == "session_format":
        assert r.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.SessionToken.Format"
    if kind == "invalid_cursor":
        assert r.json() == {"errorCode": "INVALID_PARAMETER", "errorMessage": "LastSeenDeviceId Not Valid"}
    assert get().status_code == 200
    assert faults.injected == {kind: 1}


def test_token_expiry_invalidates_the_token(env):
    sim, faults, get = env
    faults.schedule("token_expiry")
    r = get()
    assert r.status_code == 401 and r.json()["fault"]["code"] == "900901"
    assert get().status_code == 401  # the token really is gone


def test_session_expiry_invalidates_the_session(env):
    sim, faults, get = env
    faults.schedule("session_expiry")
    for _ in range(2):  # the session really is gone
        r = get()
        assert r.status_code == 400
        assert r.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired"


def test_slow_answers_normally_after_a_delay(env):
    sim, faults, get = env
    faults.schedule("slow")
    started = time.monotonic()
    r = get()
    assert time.monotonic() - started >= 0.3 and r.status_code == 200 and len(r.json()["deviceList"]) == 1000


def test_timeout_never_answers_and_stop_does_not_wait(env):
    sim, faults, get = env
    faults.schedule("timeout")
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(timeout=0.5)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2


def test_malformed_json(env):
    sim, faults, get = env
    faults.schedule("malformed_json")
    r = get()
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.content)


def test_truncated_json_is_half_a_valid_page(env):
    sim, faults, get = env
    full = get().content
    faults.schedule("truncated_json")
    r = get()
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(r.content) == len(full) // 2
    assert full.startswith(r.content)
    with pytest.raises(ValueError):
        json.loads(r.content)


def test_stuck_cursor_repeats_the_request_cursor(env):
    sim, faults, get = env
    cursor = get().json()["lastSeenDeviceId"]
    faults.schedule("stuck_cursor")
    body = get(cursor).json()
    assert body["hasMoreData"] is True and body["lastSeenDeviceId"] == cursor and body["deviceList"]


def test_empty_page_claims_more_data(env):
    sim, faults, get = env
    faults.schedule("empty_page")
    body = get().json()
    assert body["deviceList"] == [] and body["hasMoreData"] is True


def test_page_faults_do_not_bypass_auth(env):
    sim, faults, get = env
    sim.expire_sessions()
    faults.schedule("stuck_cursor")
    assert get().json()["errorCode"].endswith("SessionToken.Expired")


def test_faults_can_target_the_token_endpoint(env):
    sim, faults, get = env
    faults.schedule("unavailable", endpoint="token", after=1, count=1)

    def post():
        return requests.post(
            sim.base_url + "/api/ts/v1/oauth2/token",
            auth=("demo-client", "demo-secret"),
            data={"grant_type": "client_credentials"},
            timeout=5,
        )

    assert [post().status_code for _ in range(3)] == [200, 503, 200]
    assert get().status_code == 200


def test_random_rates_inject_some_faults(env):
    sim, faults, get = env
    faults.rates["server_error"] = 0.5
    codes = [get().status_code for _ in range(30)]
    assert 0 < codes.count(500) < 30 and codes.count(500) == faults.injected["server_error"]
    assert set(codes) == {200, 500}


def test_cli_serves_and_never_prints_secrets():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from thingspace_exporter.simulator.cli import main; sys.exit(main())",
            "--port",
            "0",
            "-v",
            "--accounts",
            f"{ACC}=30,0000123456-00002=5",
            "--client-secret",
            "s3cr3t-XYZ",
            "--password",
            "pw-QWE",
            "--fault",
            "server_error=0",
            "--fault-seed",
            "4",
            "--seed",
            "9",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stderr.readline()
        base = line.split(" listening on ")[1].split()[0]
        http = signed_in(base, ("demo-client", "s3cr3t-XYZ"), ("demo-user", "pw-QWE"))
        r = http.get(base + DEVICES, timeout=5)
        assert r.status_code == 200 and len(r.json()["deviceList"]) == 30
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    logged = line + err
    assert "GET /api/fota/v3/devices/" in logged and "POST /api/m2m/v1/session/login 200" in logged
    token = http.headers["Authorization"].removeprefix("Bearer ")
    for secret in ("s3cr3t-XYZ", "pw-QWE", token, http.headers["VZ-M2M-Token"]):
        assert secret not in logged


def test_cli_rejects_bad_arguments(capsys):
    from thingspace_exporter.simulator.cli import main

    for argv in (
        ["--fault", "nope=0.1"],
        ["--fault", "slow=2"],
        ["--accounts", "x=y"],
        ["--schedule", "nope@1"],
        ["--schedule", "html_503@x"],
        ["--schedule", "html_503@1xz"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2


def test_cli_schedule_injects_faults_into_the_named_requests():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from thingspace_exporter.simulator.cli import main; sys.exit(main())",
            "--port",
            "0",
            "--accounts",
            f"{ACC}=30",
            "--schedule",
            "html_503@1x2",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base = proc.stderr.readline().split(" listening on ")[1].split()[0]
        http = signed_in(base)
        codes = [http.get(base + DEVICES, timeout=5).status_code for _ in range(4)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert codes == [200, 503, 503, 200]


# --- faults on the other FOTA endpoints ------------------------------------------------
@pytest.fixture
def fota(env):
    """(sim, faults, get(endpoint, **query)) for the firmware, licence and campaign endpoints."""
    sim, faults, _ = env
    http = signed_in(sim.base_url)
    running = sim.running_campaigns(ACC)[0]
    paths = {
        "firmware": f"firmware/{ACC}",
        "subscriptions": f"subscriptions/{ACC}",
        "campaigns": f"reports/{ACC}/firmware/campaigns",
        "campaign_devices": f"reports/{ACC}/campaigns/{running}/devices",
    }
    defaults = {"campaigns": {"campaignStatus": "CampaignScheduled"}}

    def get(endpoint, timeout=5, **query):
        return http.get(
            f"{sim.base_url}/api/fota/v3/{paths[endpoint]}",
            params={**defaults.get(endpoint, {}), **query},
            timeout=timeout,
        )

    return sim, faults, get


OTHER = ["firmware", "subscriptions", "campaigns", "campaign_devices"]
PAGED = {"campaigns": ("lastSeenCampaignId", "campaignList"), "campaign_devices": ("lastSeenDeviceId", "deviceList")}


@pytest.mark.parametrize("endpoint", OTHER)
@pytest.mark.parametrize("kind", ["rate_limit", "server_error", "html_503", "session_invalid"])
def test_error_faults_on_the_other_endpoints(fota, endpoint, kind):
    sim, faults, get = fota
    faults.schedule(kind, endpoint=endpoint)
    faults.schedule(kind, endpoint="devices")  # another endpoint's plan is left alone
    assert get(endpoint).status_code == EXPECTED_STATUS[kind]
    assert get(endpoint).status_code == 200
    assert faults.injected == {kind: 1} and sim.requests[endpoint] == 2


@pytest.mark.parametrize("endpoint", OTHER)
def test_body_faults_on_the_other_endpoints(fota, endpoint):
    sim, faults, get = fota
    full = get(endpoint).content
    faults.schedule("truncated_json", endpoint=endpoint)
    faults.schedule("malformed_json", endpoint=endpoint)
    cut, bad = get(endpoint), get(endpoint)
    assert cut.status_code == 200 and full.startswith(cut.content) and len(cut.content) == len(full) // 2
    for r in (cut, bad):
        with pytest.raises(ValueError):
            json.loads(r.content)


@pytest.mark.parametrize("endpoint", OTHER)
def test_token_and_session_faults_on_the_other_endpoints(fota, endpoint):
    sim, faults, get = fota
    faults.schedule("session_expiry", endpoint=endpoint)
    for _ in range(2):  # the session really is gone
        assert get(endpoint).json()["errorCode"].endswith("SessionToken.Expired")


def test_timeout_on_the_subscriptions_endpoint(fota):
    sim, faults, get = fota
    faults.schedule("timeout", endpoint="subscriptions")
    with pytest.raises(requests.exceptions.ReadTimeout):
        get("subscriptions", timeout=0.5)
    assert get("subscriptions").status_code == 200


@pytest.mark.parametrize("endpoint", sorted(PAGED))
def test_page_faults_on_the_paged_endpoints(fota, endpoint):
    sim, faults, get = fota
    cursor_key, list_key = PAGED[endpoint]
    first = get(endpoint).json()
    cursor = first[list_key][0][("id" if endpoint == "campaigns" else "deviceId")]
    faults.schedule("stuck_cursor", endpoint=endpoint)
    stuck = get(endpoint, **{cursor_key: cursor}).json()
    assert stuck["hasMoreData"] is True and stuck[cursor_key] == cursor and stuck[list_key]
    faults.schedule("empty_page", endpoint=endpoint)
    empty = get(endpoint).json()
    assert empty[list_key] == [] and empty["hasMoreData"] is True
    faults.schedule("invalid_cursor", endpoint=endpoint)
    invalid = get(endpoint, **{cursor_key: cursor})
    name = cursor_key[0].upper() + cursor_key[1:]
    assert invalid.status_code == 400 and invalid.json() == {
        "errorCode": "INVALID_PARAMETER",
        "errorMessage": f"{name} Not Valid",
    }
    assert get(endpoint).json() == first


@pytest.mark.parametrize("endpoint", ["firmware", "subscriptions"])
def test_page_faults_are_refused_where_there_are_no_pages(endpoint):
    faults = Faults()
    for kind in ("stuck_cursor", "empty_page", "invalid_cursor"):
        with pytest.raises(ValueError):
            faults.schedule(kind, endpoint=endpoint)
    with pytest.raises(ValueError):
        faults.schedule("server_error", endpoint="no-such-endpoint")


def test_random_rates_apply_only_to_the_listed_endpoints(fota):
    sim, faults, get = fota
    faults.rates.update(server_error=0.5, stuck_cursor=0.5)
    assert all(get(e).status_code == 200 for e in OTHER for _ in range(5))  # only devices by default
    faults.endpoints = ("devices", "campaigns", "firmware")
    codes = [get("campaigns").status_code for _ in range(30)]
    assert 0 < codes.count(500) < 30
    firmware = [get("firmware") for _ in range(30)]
    assert all(isinstance(r.json(), list) for r in firmware if r.status_code == 200)  # never a stuck "page"
    assert {r.status_code for r in firmware} == {200, 500}
    assert all(get(e).status_code == 200 for e in ("subscriptions", "campaign_devices") for _ in range(5))


def test_cli_serves_the_other_endpoints_with_their_options():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from thingspace_exporter.simulator.cli import main; sys.exit(main())",
            "--port",
            "0",
            "--accounts",
            f"{ACC}=300",
            "--campaigns",
            f"{ACC}=30",
            "--campaign-page-size",
            "2",
            "--campaign-devices",
            "25",
            "--campaign-device-page-size",
            "10",
            "--campaign-failed-share",
            "0.5",
            "--licenses",
            f"{ACC}=0.5",
            "--schedule",
            "unavailable:subscriptions@1",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base = proc.stderr.readline().split(" listening on ")[1].split()[0]
        http = signed_in(base)
        fota = base + "/api/fota/v3/"
        subs = [http.get(fota + f"subscriptions/{ACC}", timeout=5) for _ in range(3)]
        running = http.get(
            fota + f"reports/{ACC}/firmware/campaigns", timeout=5, params={"campaignStatus": "CampaignScheduled"}
        ).json()
        devices = http.get(
            fota + f"reports/{ACC}/campaigns/{running['campaignList'][0]['id']}/devices", timeout=5
        ).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert [r.status_code for r in subs] == [200, 503, 200]
    licences = subs[0].json()
    assert licences["licenseCount"] == math.ceil(licences["licenseUsedCount"] / 0.5)
    assert len(running["campaignList"]) == 2 and running["hasMoreData"] is True
    assert devices["totalDevice"] == 25 and len(devices["deviceList"]) == 10 and devices["hasMoreData"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--campaigns", "x"],
        ["--campaign-page-size", "0"],
        ["--campaign-devices", "-1"],
        ["--campaign-failed-share", "2"],
        ["--licenses", f"{ACC}=1.5"],
        ["--licenses", f"{ACC}=many"],
        ["--fault-endpoints", "nope"],
        ["--schedule", "stuck_cursor:firmware@0"],
        ["--schedule", "html_503:nope@0"],
    ],
)
def test_cli_rejects_bad_options_of_the_other_endpoints(argv, capsys):
    from thingspace_exporter.simulator.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
