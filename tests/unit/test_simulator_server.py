"""The simulator over real HTTP on loopback: auth, paging, cursors, churn, truth."""

from __future__ import annotations

import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests
from thingspace_exporter.simulator import Simulator
from thingspace_exporter.simulator.fleet import BOUNDARIES, AccountFleet
from ts_builders import wait_for

A, B, EMPTY = "0000123456-00001", "0000123456-00002", "0000123456-00003"
ACCOUNTS = {A: 2500, B: 2000, EMPTY: 0}
TOKEN, LOGIN, LOGOUT = "/api/ts/v1/oauth2/token", "/api/m2m/v1/session/login", "/api/m2m/v1/session/logout"


class Client:
    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()

    def token(self, secret="demo-secret", data=None) -> requests.Response:
        return self.http.post(
            self.base + TOKEN,
            auth=("demo-client", secret),
            data={"grant_type": "client_credentials"} if data is None else data,
            timeout=5,
        )

    def login(self, bearer: str, password="demo-password", user="demo-user") -> requests.Response:
        return self.http.post(
            self.base + LOGIN,
            headers={"Authorization": f"Bearer {bearer}"},
            json={"username": user, "password": password},
            timeout=5,
        )

    def connect(self) -> dict:
        bearer = self.token().json()["access_token"]
        return {"Authorization": f"Bearer {bearer}", "VZ-M2M-Token": self.login(bearer).json()["sessionToken"]}

    def get(self, account: str, headers: dict, timeout=5, **params) -> requests.Response:
        return self.http.get(
            f"{self.base}/api/fota/v3/devices/{requests.utils.quote(account, safe='')}",
            headers=headers,
            params=params,
            timeout=timeout,
        )

    def fota(self, path: str, headers: dict, timeout=5, **params) -> requests.Response:
        """GET any FOTA v3 path (after /api/fota/v3/)."""
        return self.http.get(f"{self.base}/api/fota/v3/{path}", headers=headers, params=params, timeout=timeout)

    def walk(self, path: str, headers: dict, cursor_key: str, **params) -> list[dict]:
        """Every page of a paged FOTA endpoint, following its cursor from "0"."""
        pages, cursor = [], "0"
        for _ in range(10_000):
            r = self.fota(path, headers, **{cursor_key: cursor}, **params)
            assert r.status_code == 200, r.text
            pages.append(r.json())
            if not pages[-1]["hasMoreData"]:
                assert pages[-1][cursor_key] == "0"
                return pages
            cursor = pages[-1][cursor_key]
        raise AssertionError("paging never ended")

    def pages(self, account: str, headers: dict, **params) -> list[dict]:
        pages, cursor = [], "0"
        for _ in range(10_000):
            r = self.get(account, headers, lastSeenDeviceId=cursor, **params)
            assert r.status_code == 200, r.text
            pages.append(r.json())
            if not pages[-1]["hasMoreData"]:
                return pages
            cursor = pages[-1]["lastSeenDeviceId"]
        raise AssertionError("listing never ended")


@pytest.fixture
def sim():
    with Simulator(ACCOUNTS, seed=11) as s:
        yield s


@pytest.fixture
def client(sim):
    return Client(sim.base_url)


@pytest.fixture
def headers(client):
    return client.connect()


def devices_of(pages: list[dict]) -> list[dict]:
    return [d for p in pages for d in (p.get("deviceList") or [])]


# --- the exporter's semantics, re-implemented here to check Truth ------------
def epoch(value) -> float | None:
    if not isinstance(value, str) or value in ("", "N/A") or value.startswith(("0001-", "1900-")):
        return None
    if value.endswith("Z"):
        head, _, frac = value[:-1].partition(".")
        base = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S")
    else:
        day, clock, offset, _zone = value.split(" ")
        assert offset == "+0000"  # the simulator only speaks UTC
        head, _, frac = f"{day} {clock}".partition(".")
        base = datetime.strptime(head, "%Y-%m-%d %H:%M:%S")
    return base.replace(tzinfo=UTC).timestamp() + (float("0." + frac) if frac else 0.0)


def reaggregate(devices: list[dict]) -> dict:
    keys, protocols, software, last, unknown = Counter(), Counter(), Counter(), {}, Counter()
    for d in devices:
        text = {k: (d.get(k) if isinstance(d.get(k), str) else "") for k in ("make", "model", "firmware", "status")}
        keys[
            (
                text["make"],
                text["model"],
                text["firmware"],
                text["status"].lower(),
                "true" if d.get("fotaEligible") is True else "false",
                "true" if d.get("licenseAssigned") is True else "false",
            )
        ] += 1
        for p in (d.get("protocol") or "").split(","):
            if p:
                protocols[p] += 1
        software.update({(s["name"], s["version"]) for s in d.get("softwareList") or []})
        when = epoch(d["lastConnectTime"] if "lastConnectTime" in d else d.get("lastConnectionTime"))
        mm = (text["make"], text["model"])
        if when is None:
            unknown[mm] += 1
        else:
            last.setdefault(mm, []).append(when)
    return {"devices": keys, "protocols": protocols, "software": software, "last": last, "unknown": unknown}


def assert_truth_matches(truth, devices):
    mine = reaggregate(devices)
    assert truth.devices == mine["devices"]
    assert truth.protocols == mine["protocols"]
    assert truth.software == mine["software"]
    assert truth.last_connection_unknown == mine["unknown"]
    assert truth.last_connection.keys() == mine["last"].keys()
    for key, times in mine["last"].items():
        assert sorted(truth.last_connection[key]) == pytest.approx(sorted(times), abs=1e-5)
    assert truth.count == len(devices)


# --- OAuth ---------------------------------------------------------------------
def test_token_is_reused_within_its_lifetime(sim, client):
    first = client.token()
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"]
    time.sleep(1.05)
    again = client.token().json()
    assert again["access_token"] == body["access_token"] and again["expires_in"] < 3600
    assert sim.requests["token"] == 2 and sim.requests["token_failed"] == 0


def test_token_errors(sim, client):
    bad = client.token(secret="wrong")
    assert bad.status_code == 401
    assert bad.json() == {"error": "invalid_client", "error_description": "Client authentication failed"}
    missing = client.token(data={})
    assert missing.status_code == 400
    assert missing.json() == {"error": "invalid_request", "error_description": "Missing grant_type parameter value"}
    no_auth = client.http.post(client.base + TOKEN, data={"grant_type": "client_credentials"})
    assert no_auth.status_code == 401
    assert sim.requests["token_failed"] == 3


def test_token_expires_after_ttl_and_a_new_one_is_issued():
    with Simulator(ACCOUNTS, token_ttl=2.0) as sim:  # room for a busy machine between connect and get
        client = Client(sim.base_url)
        headers = client.connect()
        assert client.get(A, headers).status_code == 200
        time.sleep(2.1)
        expired = client.get(A, headers)
        assert expired.status_code == 401 and expired.json()["fault"]["code"] == "900901"
        fresh = client.token().json()["access_token"]
        assert fresh != headers["Authorization"].split()[1]
        assert client.get(A, {**headers, "Authorization": f"Bearer {fresh}"}).status_code == 200


# --- M2M session ---------------------------------------------------------------
def test_login_and_logout(sim, client, headers):
    assert client.get(A, headers).status_code == 200
    bearer_only = {"Authorization": headers["Authorization"]}
    assert client.http.post(client.base + LOGIN, headers={}, json={}).json()["fault"]["code"] == "900902"
    out = client.http.post(client.base + LOGOUT, headers=headers)
    assert out.status_code == 200 and out.json() == {"sessionToken": headers["VZ-M2M-Token"]}
    after = client.get(A, headers)
    assert after.status_code == 400
    assert after.json()["errorCode"] == "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid"
    assert client.http.post(client.base + LOGOUT, headers=bearer_only).status_code == 400
    assert sim.requests["login"] == 2 and sim.requests["logout"] == 2


def test_login_requires_a_valid_bearer(client):
    r = client.login("not-a-token")
    assert r.status_code == 401 and r.json()["fault"]["code"] == "900901"


def test_lockout_after_five_consecutive_failures(sim, client):
    bearer = client.token().json()["access_token"]
    for _ in range(4):
        assert client.login(bearer, password="nope").status_code == 401
    assert client.login(bearer).status_code == 200  # success resets the count
    for _ in range(4):
        client.login(bearer, password="nope")
    assert not sim.locked
    wrong = client.login(bearer, password="nope")
    assert wrong.json()["errorCode"] == "UnifiedWebService.AUTHENTICATION_FAILED" and sim.locked
    locked = client.login(bearer)  # even the right password now fails
    assert locked.status_code == 401 and locked.json()["errorCode"] == "UnifiedWebService.ACCOUNT_LOCKED"
    assert "sessionToken" not in locked.json()
    assert sim.requests["login_failed"] == 10
    sim.unlock()
    assert client.login(bearer).status_code == 200


@pytest.mark.parametrize("status", [400, 401, 403])
def test_fota_auth_errors(status):
    with Simulator(ACCOUNTS, session_error_status=status) as sim:
        client = Client(sim.base_url)
        good = client.connect()
        no_bearer = client.get(A, {"VZ-M2M-Token": good["VZ-M2M-Token"]})
        assert no_bearer.status_code == 401 and no_bearer.json()["fault"]["code"] == "900902"
        bad_bearer = client.get(A, {**good, "Authorization": "Bearer nope"})
        assert bad_bearer.status_code == 401 and bad_bearer.json()["fault"]["code"] == "900901"
        cases = {
            "UnifiedWebService.REQUEST_FAILED.SessionToken.Format": {"Authorization": good["Authorization"]},
            "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid": {**good, "VZ-M2M-Token": "unknown"},
        }
        for code, hdrs in cases.items():
            r = client.get(A, hdrs)
            assert r.status_code == status and r.json()["errorCode"] == code and r.json()["errorMessage"]
        assert client.get(A, good).status_code == 200
        sim.expire_sessions()
        r = client.get(A, good)
        assert r.status_code == status
        assert r.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired"
        sim.expire_token()
        assert client.get(A, client.connect()).status_code == 200  # both renewed


def test_session_expires_after_idle_time_but_use_keeps_it_alive():
    with Simulator(ACCOUNTS, session_idle=1.5) as sim:  # uses 0.25 s apart: 1.25 s of room for a busy machine
        client = Client(sim.base_url)
        headers = client.connect()
        for _ in range(3):
            time.sleep(0.25)
            assert client.get(A, headers, protocol="NONE").status_code == 200
        time.sleep(1.6)
        r = client.get(A, headers)
        assert r.status_code == 400
        assert r.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired"


def test_unknown_path_and_wrong_method(client, headers):
    r = client.http.get(client.base + "/api/fota/v3/nothing", headers=headers)
    assert r.status_code == 400 and r.json()["fault"]["code"] == "900906"
    r = client.http.post(f"{client.base}/api/fota/v3/devices/{A}", headers=headers)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    assert client.http.get(client.base + TOKEN).status_code == 405


# --- paging ----------------------------------------------------------------------
def test_paging_2500_devices(client, headers):
    pages = client.pages(A, headers)
    assert [len(p["deviceList"]) for p in pages] == [1000, 1000, 500]
    assert [p["hasMoreData"] for p in pages] == [True, True, False]
    imeis = [d["deviceId"] for d in devices_of(pages)]
    assert len(set(imeis)) == 2500 and imeis == sorted(imeis)
    assert all(len(i) == 15 for i in imeis)
    assert pages[0]["lastSeenDeviceId"] == pages[0]["deviceList"][-1]["deviceId"]
    assert pages[-1]["lastSeenDeviceId"] == "0"
    assert all(p["accountName"] == A and p["maxPageSize"] == 1000 for p in pages)


def test_exact_multiple_of_the_page_size_ends_on_a_full_page(client, headers):
    pages = client.pages(B, headers)
    assert [(len(p["deviceList"]), p["hasMoreData"], p["lastSeenDeviceId"] == "0") for p in pages] == [
        (1000, True, False),
        (1000, False, True),
    ]


def test_empty_account(client, headers):
    body = client.get(EMPTY, headers, lastSeenDeviceId="0").json()
    assert body["hasMoreData"] is False and body["lastSeenDeviceId"] == "0"
    assert body.get("deviceList") is None and body["accountName"] == EMPTY


def test_cursor_rules(sim, client, headers):
    first = client.get(A, headers, lastSeenDeviceId="0").json()
    assert client.get(A, headers).json() == first  # absent cursor = "0"
    imeis = [d["deviceId"] for d in first["deviceList"]]
    from_middle = client.get(A, headers, lastSeenDeviceId=int(imeis[499])).json()  # numeric form
    assert [d["deviceId"] for d in from_middle["deviceList"][:500]] == imeis[500:]
    assert all(d["deviceId"] > imeis[499] for d in from_middle["deviceList"])
    last = client.pages(A, headers)[-1]["deviceList"][-1]["deviceId"]
    tail = client.get(A, headers, lastSeenDeviceId=last).json()
    assert tail["hasMoreData"] is False and not tail.get("deviceList") and tail["lastSeenDeviceId"] == "0"
    other_account = client.get(B, headers).json()["deviceList"][0]["deviceId"]
    not_a_device = str(int(imeis[0]) + 1)
    for bad in ("abc", "-1", not_a_device, other_account, "999999999999999", "1" * 16):
        r = client.get(A, headers, lastSeenDeviceId=bad)
        assert r.status_code == 400, bad
        assert r.json() == {"errorCode": "INVALID_PARAMETER", "errorMessage": "LastSeenDeviceId Not Valid"}


def test_account_rules(client, headers):
    encoded = client.http.get(f"{client.base}/api/fota/v3/devices/0000123456%2D00001", headers=headers)
    assert encoded.status_code == 200 and encoded.json()["accountName"] == A
    for name, message in (
        ("not-an-account", "Invalid account name format"),
        ("123", "Invalid account name format"),
        ("0000123456-00009", "Inactive account"),
    ):
        r = client.get(name, headers)
        assert r.status_code == 400 and r.json() == {"errorCode": "INVALID_PARAMETER", "errorMessage": message}


def test_a_deactivated_account_is_inactive_until_reactivated(sim, client, headers):
    sim.deactivate(A)
    r = client.get(A, headers)
    assert r.status_code == 400 and r.json() == {"errorCode": "INVALID_PARAMETER", "errorMessage": "Inactive account"}
    assert client.get(B, headers).status_code == 200
    sim.reactivate(A)
    assert client.get(A, headers).json()["accountName"] == A


@pytest.mark.parametrize("protocol", ["LWM2M", "HTTP", "NONE", "OMADM", "lwm2m", "all", "", None])
def test_protocol_filter_matches_truth(sim, client, headers, protocol):
    params = {} if protocol is None else {"protocol": protocol}
    devices = devices_of(client.pages(A, headers, **params))
    truth = sim.truth(A, protocol=protocol)
    assert_truth_matches(truth, devices)
    assert truth.total == 2500
    if protocol in (None, "", "all"):
        assert len(devices) == 2500
    else:
        assert 0 < len(devices) < 2500
        assert all(protocol.upper() in d["protocol"].split(",") for d in devices)


def test_truth_defaults_to_lwm2m(sim, client, headers):
    devices = devices_of(client.pages(A, headers, protocol="LWM2M"))
    assert_truth_matches(sim.truth(A), devices)


def test_ages_seen_a_little_later_are_clear_of_bucket_boundaries(client, headers):
    devices = devices_of(client.pages(A, headers))
    now = time.time()
    ages = [
        now - t
        for t in (epoch(d.get("lastConnectTime", d.get("lastConnectionTime"))) for d in devices)
        if t is not None
    ]
    assert ages and all(abs(age - b) > 60 for age in ages for b in BOUNDARIES)


def test_churn_changes_truth_and_listing_consistently(sim, client, headers):
    before = devices_of(client.pages(A, headers))
    truth_before = sim.truth(A, protocol="all")
    assert sim.generation == 0 and sim.advance() == 1 and sim.generation == 1
    after = devices_of(client.pages(A, headers))
    truth_after = sim.truth(A, protocol="all")
    assert_truth_matches(truth_after, after)
    assert truth_after != truth_before and truth_after.total == len(after)
    old, new = {d["deviceId"] for d in before}, {d["deviceId"] for d in after}
    gone, joined = sorted(old - new), new - old
    assert gone and joined
    # A cursor on a device that just left is still accepted for one generation.
    r = client.get(A, headers, lastSeenDeviceId=gone[0])
    assert r.status_code == 200 and all(d["deviceId"] > gone[0] for d in r.json()["deviceList"])
    sim.advance()
    sim.advance()
    assert client.get(A, headers, lastSeenDeviceId=gone[0]).status_code == 400


def test_churn_thread_advances_generations():
    with Simulator(ACCOUNTS, churn_seconds=0.1) as sim:
        assert wait_for(lambda: sim.generation >= 2, 30)


def test_latency_is_added_to_every_request():
    with Simulator(ACCOUNTS, latency=0.2) as sim:
        started = time.monotonic()
        Client(sim.base_url).token()
        assert time.monotonic() - started >= 0.2


def test_deep_page_of_a_5m_fleet_is_built_alone_not_from_the_fleet():
    with Simulator({A: 5_000_000}, seed=3) as sim:
        client = Client(sim.base_url)
        headers = client.connect()
        cursor = AccountFleet(3, A, 5_000_000).imei(4_000_000)
        tracemalloc.start()
        r = client.get(A, headers, lastSeenDeviceId=cursor)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        body = r.json()
        assert r.status_code == 200 and len(body["deviceList"]) == 1000 and body["hasMoreData"]
        assert body["deviceList"][0]["deviceId"] > cursor
        assert peak < 30_000_000  # one page's worth, not 5M devices' worth (its speed is for bench/)


# --- the other read-only FOTA endpoints: same tokens, same account rules ----------------
def other_endpoints(sim, account: str) -> dict[str, tuple[str, dict]]:
    """endpoint name -> (path after /api/fota/v3/, query) for one account."""
    campaign = sim.running_campaigns(A)[0]
    return {
        "firmware": (f"firmware/{account}", {"protocol": "LWM2M"}),
        "subscriptions": (f"subscriptions/{account}", {}),
        "campaigns": (f"reports/{account}/firmware/campaigns", {"campaignStatus": "CampaignScheduled"}),
        "campaign_devices": (f"reports/{account}/campaigns/{campaign}/devices", {}),
    }


@pytest.mark.parametrize("endpoint", ["firmware", "subscriptions", "campaigns", "campaign_devices"])
def test_other_endpoints_check_both_tokens(sim, client, headers, endpoint):
    path, query = other_endpoints(sim, A)[endpoint]
    assert client.fota(path, headers, **query).status_code == 200
    no_bearer = client.fota(path, {"VZ-M2M-Token": headers["VZ-M2M-Token"]}, **query)
    assert no_bearer.status_code == 401 and no_bearer.json()["fault"]["code"] == "900902"
    bad_bearer = client.fota(path, {**headers, "Authorization": "Bearer nope"}, **query)
    assert bad_bearer.status_code == 401 and bad_bearer.json()["fault"]["code"] == "900901"
    no_session = client.fota(path, {"Authorization": headers["Authorization"]}, **query)
    assert no_session.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.SessionToken.Format"
    unknown = client.fota(path, {**headers, "VZ-M2M-Token": "nope"}, **query)
    assert unknown.json()["errorCode"] == "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid"
    sim.expire_sessions()
    expired = client.fota(path, headers, **query)
    assert expired.status_code == 400
    assert expired.json()["errorCode"] == "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired"
    assert sim.requests[endpoint] == 6 and sim.requests["devices"] == 0


@pytest.mark.parametrize("endpoint", ["firmware", "subscriptions", "campaigns", "campaign_devices"])
def test_other_endpoints_follow_the_account_rules_and_deactivation(sim, client, headers, endpoint):
    for name, message in (("not-an-account", "Invalid account name format"), ("0000123456-00009", "Inactive account")):
        path, query = other_endpoints(sim, name)[endpoint]
        r = client.fota(path, headers, **query)
        assert r.status_code == 400 and r.json() == {"errorCode": "INVALID_PARAMETER", "errorMessage": message}
    path, query = other_endpoints(sim, A)[endpoint]
    sim.deactivate(A)
    r = client.fota(path, headers, **query)
    assert r.status_code == 400 and r.json() == {"errorCode": "INVALID_PARAMETER", "errorMessage": "Inactive account"}
    other_path, other_query = other_endpoints(sim, B)[endpoint]
    if endpoint != "campaign_devices":  # that campaign belongs to A
        assert client.fota(other_path, headers, **other_query).status_code == 200
    sim.reactivate(A)
    assert client.fota(path, headers, **query).status_code == 200


def test_other_endpoints_are_get_only_and_exact_paths(sim, client, headers):
    for endpoint, (path, _) in other_endpoints(sim, A).items():
        r = client.http.put(f"{client.base}/api/fota/v3/{path}", headers=headers, timeout=5)
        assert r.status_code == 405 and r.headers["Allow"] == "GET", endpoint
    for path in (
        f"firmware/{A}/devices",
        f"firmware/{A}/async/123",
        f"reports/{A}/campaigns",
        "subscriptions/",
        f"reports/{A}/firmware/campaigns/x",
        f"reports/{A}/campaigns//devices",
    ):
        r = client.fota(path, headers)
        assert r.status_code == 400 and r.json()["fault"]["code"] == "900906", path
    assert set(sim.requests) <= {"token", "login", "firmware", "subscriptions", "campaigns", "campaign_devices"}
