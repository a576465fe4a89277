"""The installed command against a second, deliberately different API implementation written
here from the reference page alone (not the simulator): numeric cursors, a missing deviceList,
lower-case token_type, SessionToken expiry as HTTP 401, a 429 and an HTML 503 mid-listing."""

from __future__ import annotations

import base64
import calendar
import json
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client.parser import text_string_to_metric_families

from .conftest import PYTHON

SECRET, PASSWORD = "indep-secret-7d1e", "indep-pass-3c9a"
TOKEN, SESSIONS = "tok-8f2b61aa", ["sess-a1b2c3d4", "sess-e5f6a7b8"]
BUCKETS = (3600, 21600, 86400, 604800, 2592000)
AGES = (60, 7000, 40000, 100000, 1000000, 5000000)  # one inside each bucket, far from its bounds
MAKES = (("QUECTEL", "BG96"), ("NORDIC SEMICONDUCTOR ASA", "NRF9160"), ("SEQUANS", "GM01Q"))


def go_time(epoch: float, digits: int) -> str:
    base = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))
    frac = f"{epoch % 1:.9f}"[2 : 2 + digits]
    return f"{base}{'.' + frac if digits else ''} +0000 UTC"


def fleet(n: int, seed: int, now: float) -> list[dict]:
    devices = []
    for i in range(n):
        make, model = MAKES[(i * 7 + seed) % 3]
        d = {
            "deviceId": f"35{seed:02d}{i:011d}",
            "mdn": "5550100",
            "make": make,
            "model": model,
            "firmware": f"FW{i % 4}",
            "status": ("Active", "active", "SUSPENDED", "pending", "deactive")[i % 5],
            "protocol": ("LWM2M", "HTTP,LWM2M", "NONE", None)[i % 4],
            "filesList": [],
            "extra": {"x": i},
        }
        if i % 3:
            d["fotaEligible"] = bool(i % 2)
        if i % 4 != 1:
            d["licenseAssigned"] = None if i % 7 == 0 else bool(i % 3)
        when = now - AGES[i % len(AGES)]
        value = (
            go_time(when, i % 10),
            "N/A",
            "0001-01-01 00:00:00 +0000 UTC",
            "1900-01-01 00:00:00 +0000 UTC",
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
        )[0 if i % 9 else (i // 9) % 5]
        d["lastConnectTime" if i % 2 else "lastConnectionTime"] = value
        if i % 3 == 0:
            d["softwareList"] = [{"name": "VZ_MDM_IOT", "version": f"0.{i % 3}", "upgradeTime": value}] * (1 + i % 2)
        devices.append(d)
    return devices


def expected(devices: list[dict], now: float) -> tuple[Counter, Counter]:
    """The contract, read straight from the issue, computed without any exporter code."""
    combos, buckets = Counter(), Counter()
    for d in devices:
        combos[
            (
                d["make"],
                d["model"],
                d["firmware"],
                d["status"].lower(),
                "true" if d.get("fotaEligible") is True else "false",
                "true" if d.get("licenseAssigned") is True else "false",
            )
        ] += 1
        raw = d.get("lastConnectionTime") or d.get("lastConnectTime")
        if raw in ("N/A", "") or raw.startswith(("0001", "1900")):
            continue
        stamp = raw.replace(" +0000 UTC", "").replace("T", " ").replace("Z", "")
        epoch = calendar.timegm(time.strptime(stamp.split(".")[0], "%Y-%m-%d %H:%M:%S"))
        for le in (*BUCKETS, float("inf")):
            if now - epoch <= le:
                buckets[(d["make"], d["model"], le)] += 1
    return combos, buckets


class Api:
    def __init__(self, accounts: dict[str, list[dict]]) -> None:
        self.accounts = accounts
        self.faults = ["session_401", "rate_limit", "html_503"]  # consumed one per page request
        self.valid_sessions = {SESSIONS[0]}
        self.logins = 0
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def reply(self, status: int, body, content_type="application/json", headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if self.path == "/api/ts/v1/oauth2/token":
                    creds = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
                    if creds != f"indep-client:{SECRET}" or b"grant_type=client_credentials" not in body:
                        return self.reply(401, {"error": "invalid_client"})
                    return self.reply(200, {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3599})
                if self.path == "/api/m2m/v1/session/login":
                    doc = json.loads(body)
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}" or doc != {
                        "username": "indep-user",
                        "password": PASSWORD,
                    }:
                        return self.reply(400, {"errorCode": "AUTH", "errorMessage": "bad login"})
                    with api.lock:
                        session = SESSIONS[min(api.logins, 1)]
                        api.logins += 1
                        api.valid_sessions.add(session)
                    return self.reply(200, {"sessionToken": session})
                if self.path == "/api/m2m/v1/session/logout":
                    return self.reply(200, {"sessionToken": self.headers.get("VZ-M2M-Token")})
                return self.reply(404, {"fault": {"code": "900906"}})

            def do_GET(self):
                url = urlsplit(self.path)
                account = unquote(url.path.rsplit("/", 1)[1])
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self.reply(401, {"fault": {"code": "900901", "message": "Invalid Credentials"}})
                with api.lock:
                    fault = (
                        api.faults.pop(0)
                        if api.faults
                        and account == "0000123456-00001"
                        and parse_qs(url.query).get("lastSeenDeviceId") != ["0"]
                        else None
                    )
                    if fault == "session_401":
                        api.valid_sessions.discard(SESSIONS[0])
                    valid = self.headers.get("VZ-M2M-Token") in api.valid_sessions
                if not valid:
                    return self.reply(
                        401,
                        {
                            "errorCode": "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired",
                            "errorMessage": "Session expired",
                        },
                    )
                if fault == "rate_limit":
                    return self.reply(429, {"error": "throttled"}, headers=[("Retry-After", "1")])
                if fault == "html_503":
                    return self.reply(503, b"<html><body>503 Service Unavailable</body></html>", "text/html")
                devices = api.accounts.get(account)
                if devices is None:
                    return self.reply(400, {"errorCode": "INVALID_PARAMETER", "errorMessage": "Inactive account"})
                cursor = parse_qs(url.query)["lastSeenDeviceId"][0]
                rest = [d for d in devices if cursor == "0" or int(d["deviceId"]) > int(cursor)]
                page, more = rest[:1000], len(rest) > 1000
                doc = {"accountName": account, "hasMoreData": more, "maxPageSize": 1000}
                if more:
                    doc["lastSeenDeviceId"] = int(page[-1]["deviceId"])  # a JSON number, as older versions
                if page:
                    doc["deviceList"] = page  # absent on an empty last page
                return self.reply(200, doc)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


def test_once_against_an_independent_api_matches_exactly():
    now = time.time()
    accounts = {"0000123456-00001": fleet(2600, 1, now), "0000123456-00002": fleet(37, 2, now), "0000123456-00003": []}
    api = Api(accounts)
    env = {
        "THINGSPACE_CLIENT_ID": "indep-client",
        "THINGSPACE_CLIENT_SECRET": SECRET,
        "THINGSPACE_USERNAME": "indep-user",
        "THINGSPACE_PASSWORD": PASSWORD,
        "THINGSPACE_ACCOUNTS": ",".join(accounts),
        "THINGSPACE_BASE_URL": api.url,
        "THINGSPACE_PROTOCOL": "",
        "PATH": "/usr/bin:/bin",
        "THINGSPACE_COLLECTORS": "devices",
    }  # the reference page describes the device list only
    try:
        proc = subprocess.run([PYTHON, "-m", "thingspace_exporter", "--once"], env=env, capture_output=True, timeout=60)
    finally:
        api.server.shutdown()
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert api.faults == [] and api.logins == 2  # every fault was served; one new login
    combos, buckets = Counter(), Counter()
    for fam in text_string_to_metric_families(proc.stdout.decode()):
        for s in fam.samples:
            if s.name == "thingspace_devices":
                key = tuple(
                    s.labels[k] for k in ("make", "model", "firmware", "status", "fota_eligible", "license_assigned")
                )
                combos[(s.labels["account"], *key)] += s.value
            if s.name == "thingspace_device_last_connection_age_seconds_bucket":
                buckets[(s.labels["account"], s.labels["make"], s.labels["model"], float(s.labels["le"]))] += s.value
    want_combos, want_buckets = Counter(), Counter()
    for account, devices in accounts.items():
        c, b = expected(devices, now)
        want_combos.update({(account, *k): v for k, v in c.items()})
        want_buckets.update({(account, *k): v for k, v in b.items()})
    assert combos == want_combos
    # zero buckets are published, the expectation only lists the non-empty ones
    assert +buckets == want_buckets
    for secret in (SECRET, PASSWORD, TOKEN, *SESSIONS):
        assert secret.encode() not in proc.stdout + proc.stderr
