"""auth: token and session caching, refresh ahead of expiry and on rejection, the credential
guard, shared refreshes, and no secret in any log or exception."""

import base64
import json
import threading
import time

import pytest
import responses
from thingspace_exporter.collectors.device_listing import list_sequential
from thingspace_exporter.collectors.device_pages import device_page
from thingspace_exporter.thingspace.auth import Auth
from thingspace_exporter.thingspace.client import Client
from thingspace_exporter.thingspace.errors import ApiError
from thingspace_exporter.thingspace.login_failures import LoginFailures
from thingspace_exporter.thingspace.transport import Transport
from ts_builders import ACCOUNT, BASE, CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME, device, page, sample

TOKEN_URL = BASE + "/api/ts/v1/oauth2/token"
LOGIN_URL = BASE + "/api/m2m/v1/session/login"
LOGOUT_URL = BASE + "/api/m2m/v1/session/logout"
DEVICES_URL = BASE + "/api/fota/v3/devices/" + ACCOUNT
SESSION_CODES = [
    "UnifiedWebService.REQUEST_FAILED.SessionToken.Expired",
    "UnifiedWebService.INPUT_INVALID.SessionToken.Invalid",
    "UnifiedWebService.REQUEST_FAILED.SessionToken.Format",
]
TOKENS = [f"tok-{i}-ZXCVBNMASDF" for i in range(10)]
SESSIONS = [f"sess-{i}-QWERTYUIOP" for i in range(10)]


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def auth(metrics, stop, log, clock):
    t = Transport(BASE, metrics, stop)
    a = Auth(t, CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD, metrics, log, clock=clock)
    yield a
    t.close()


@pytest.fixture
def client(auth, metrics):
    return Client(auth.transport, auth, metrics)


def calls(rsps, url):
    return sum(1 for c in rsps.calls if c.request.url.split("?")[0] == url)


def tokens(rsps, *docs):
    for doc in docs:
        rsps.post(TOKEN_URL, json=doc)


def logins(rsps, *docs):
    for doc in docs:
        rsps.post(LOGIN_URL, json=doc)


def no_secrets(*texts):
    for text in texts:
        for secret in (CLIENT_SECRET, PASSWORD, *TOKENS, *SESSIONS):
            assert secret not in text, f"{secret!r} leaked"


def test_token_and_session_are_cached_and_reused(rsps, auth, clock, log_stream):
    tokens(rsps, {"access_token": TOKENS[0], "token_type": "bearer", "expires_in": 3600})
    logins(rsps, {"sessionToken": SESSIONS[0]})
    h1 = auth.headers()
    clock.t += 100
    auth.touch()
    h2 = auth.headers()
    assert h1 == h2 == {"Authorization": f"Bearer {TOKENS[0]}", "VZ-M2M-Token": SESSIONS[0]}
    assert calls(rsps, TOKEN_URL) == 1 and calls(rsps, LOGIN_URL) == 1
    tok_req = rsps.calls[0].request
    assert (
        tok_req.headers["Authorization"]
        == "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    )
    assert tok_req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert tok_req.body == "grant_type=client_credentials"
    login_req = rsps.calls[1].request
    assert login_req.headers["Authorization"] == f"Bearer {TOKENS[0]}"
    assert json.loads(login_req.body) == {"username": USERNAME, "password": PASSWORD}
    no_secrets(log_stream.getvalue())


def test_token_refreshed_ahead_of_expiry(rsps, auth, clock):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 3600}, {"access_token": TOKENS[1], "expires_in": 3600})
    logins(rsps, {"sessionToken": SESSIONS[0]})
    start = clock.t
    auth.headers()
    for step in range(1, 12):  # use the session every 5 minutes up to 55 min
        clock.t = start + step * 300 - 1
        auth.touch()
        h = auth.headers()
        if step * 300 - 1 < 3000:
            assert h["Authorization"] == f"Bearer {TOKENS[0]}"
    clock.t = start + 3599
    assert auth.headers()["Authorization"] == f"Bearer {TOKENS[1]}"
    assert calls(rsps, TOKEN_URL) == 2
    assert calls(rsps, LOGIN_URL) == 1  # a new token does not need a new session


def test_short_expires_in_refreshed_before_it_runs_out(rsps, auth, clock):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": "100"}, {"access_token": TOKENS[1], "expires_in": 100})
    logins(rsps, {"sessionToken": SESSIONS[0]})
    start = clock.t
    auth.headers()
    clock.t = start + 50
    auth.headers()
    assert calls(rsps, TOKEN_URL) == 1
    clock.t = start + 99
    assert auth.headers()["Authorization"] == f"Bearer {TOKENS[1]}"


def test_missing_expires_in_means_one_hour_from_first_issue(rsps, auth, clock):
    tokens(
        rsps,
        {"access_token": TOKENS[0]},
        {"access_token": TOKENS[0]},  # the same token again
        {"access_token": TOKENS[1]},
        {"access_token": TOKENS[2]},
    )
    logins(rsps, {"sessionToken": SESSIONS[0]})

    def at(offset):
        clock.t = start + offset
        auth.touch()
        return auth.headers()["Authorization"]

    start = clock.t
    at(0)
    assert at(3000) == f"Bearer {TOKENS[0]}" and calls(rsps, TOKEN_URL) == 1
    assert at(3400) == f"Bearer {TOKENS[0]}" and calls(rsps, TOKEN_URL) == 2  # refreshed early: same token
    at(3500)
    assert calls(rsps, TOKEN_URL) == 2  # not refreshed on every call
    # the same token is still valid only until an hour after its FIRST issue, not 3400 + 3600
    assert at(3600) == f"Bearer {TOKENS[1]}" and calls(rsps, TOKEN_URL) == 3
    assert at(3600 + 3000) == f"Bearer {TOKENS[1]}" and calls(rsps, TOKEN_URL) == 3
    assert at(3600 + 3599) == f"Bearer {TOKENS[2]}" and calls(rsps, TOKEN_URL) == 4


def test_session_idle_expiry_triggers_a_new_login(rsps, auth, clock):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 86400})
    logins(rsps, {"sessionToken": SESSIONS[0]}, {"sessionToken": SESSIONS[1]})
    start = clock.t
    auth.headers()
    clock.t = start + 1000
    assert auth.headers()["VZ-M2M-Token"] == SESSIONS[0]
    auth.touch()  # used at +1000: alive until +1000 + 20 min
    clock.t = start + 2000
    assert auth.headers()["VZ-M2M-Token"] == SESSIONS[0]
    assert calls(rsps, LOGIN_URL) == 1
    clock.t = start + 1000 + 1200 - 1  # idle just under 20 minutes: inside the safety margin
    assert auth.headers()["VZ-M2M-Token"] == SESSIONS[1]
    assert calls(rsps, LOGIN_URL) == 2


def test_expires_in_of_the_session_is_honoured(rsps, auth, clock):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 86400})
    logins(rsps, {"sessionToken": SESSIONS[0], "expiresIn": 600}, {"sessionToken": SESSIONS[1]})
    start = clock.t
    auth.headers()
    for offset in (100, 200, 300, 400, 500):
        clock.t = start + offset
        auth.touch()
        assert auth.headers()["VZ-M2M-Token"] == SESSIONS[0]
    clock.t = start + 599  # still used every 100 s, but the server said 600 s
    auth.touch()
    assert auth.headers()["VZ-M2M-Token"] == SESSIONS[1]
    assert calls(rsps, LOGIN_URL) == 2


def test_401_gateway_fault_mid_listing_gets_one_new_token_and_retries_once(rsps, client, log_stream):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 3600}, {"access_token": TOKENS[1], "expires_in": 3600})
    logins(rsps, {"sessionToken": SESSIONS[0]})
    rsps.get(DEVICES_URL, json=page([device("350000000000001")], more=True))
    rsps.get(
        DEVICES_URL,
        status=401,
        json={"fault": {"code": "900901", "message": "Invalid Credentials", "description": "Access failure"}},
    )
    rsps.get(DEVICES_URL, json=page([device("350000000000002")], more=False))
    data, _ = list_sequential(lambda cursor: device_page(client, ACCOUNT, cursor), (3600.0,))
    assert data.count == 2 and data.pages == 2
    assert [c.request.params["lastSeenDeviceId"] for c in rsps.calls if c.request.url.startswith(DEVICES_URL)] == [
        "0",
        "350000000000001",
        "350000000000001",
    ]
    assert calls(rsps, TOKEN_URL) == 2 and calls(rsps, LOGIN_URL) == 1 and calls(rsps, DEVICES_URL) == 3
    assert rsps.calls[-1].request.headers["Authorization"] == f"Bearer {TOKENS[1]}"
    assert rsps.calls[-1].request.headers["VZ-M2M-Token"] == SESSIONS[0]
    no_secrets(log_stream.getvalue())


@pytest.mark.parametrize("code", SESSION_CODES)
@pytest.mark.parametrize("status", [400, 401, 403])
def test_session_token_error_gets_one_new_login_and_one_retry(rsps, client, code, status, log_stream):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 3600})
    logins(rsps, {"sessionToken": SESSIONS[0]}, {"sessionToken": SESSIONS[1]})
    rsps.get(DEVICES_URL, status=status, json={"errorCode": code, "errorMessage": "session problem"})
    rsps.get(DEVICES_URL, json=page([device("350000000000001")]))
    p, _ = device_page(client, ACCOUNT, "0")
    assert p.deviceList[0].deviceId == "350000000000001"
    assert calls(rsps, LOGIN_URL) == 2 and calls(rsps, TOKEN_URL) == 1 and calls(rsps, DEVICES_URL) == 2
    assert rsps.calls[-1].request.headers["VZ-M2M-Token"] == SESSIONS[1]
    no_secrets(log_stream.getvalue())


@pytest.mark.parametrize(
    "reply",
    [
        {"status": 401, "json": {"errorCode": SESSION_CODES[0], "errorMessage": "expired"}},
        {"status": 401, "json": {"fault": {"code": "900901", "message": "Invalid Credentials"}}},
    ],
)
def test_a_second_rejection_after_the_retry_fails_without_looping(rsps, client, reply, log_stream):
    tokens(rsps, *[{"access_token": t, "expires_in": 3600} for t in TOKENS])
    logins(rsps, *[{"sessionToken": s} for s in SESSIONS])
    rsps.get(DEVICES_URL, **reply)
    with pytest.raises(ApiError) as e:
        device_page(client, ACCOUNT, "0")
    assert e.value.reason in ("session_rejected", "token_rejected")
    assert calls(rsps, DEVICES_URL) == 2
    assert calls(rsps, TOKEN_URL) + calls(rsps, LOGIN_URL) == 3  # the first pair plus ONE renewal
    no_secrets(log_stream.getvalue(), str(e.value))


def test_other_errors_are_not_retried_by_the_client(rsps, client):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 3600})
    logins(rsps, {"sessionToken": SESSIONS[0]})
    rsps.get(DEVICES_URL, status=400, json={"errorCode": "INVALID_PARAMETER", "errorMessage": "Inactive account"})
    with pytest.raises(ApiError) as e:
        device_page(client, ACCOUNT, "0")
    assert e.value.reason == "invalid_parameter" and calls(rsps, DEVICES_URL) == 1


def test_bad_client_credentials_at_most_two_tries_then_backoff(rsps, auth, clock, metrics, log_stream):
    rsps.post(
        TOKEN_URL,
        status=401,
        json={"error": "invalid_client", "error_description": f"Client authentication failed {CLIENT_SECRET}"},
    )
    errors = []
    for _ in range(5):
        with pytest.raises(ApiError) as e:
            auth.headers()
        errors.append(e.value)
        clock.t += 31  # past the pause after a single rejection
    assert calls(rsps, TOKEN_URL) == 2
    assert [e.reason for e in errors] == ["credentials_rejected"] * 2 + ["auth_backoff"] * 3
    assert "THINGSPACE_CLIENT_ID" in str(errors[-1])
    assert sample(metrics, "thingspace_auth_rejections_total", kind="oauth") == 2
    assert sample(metrics, "thingspace_auth_backoff_seconds", kind="oauth") > 0
    clock.t += 301  # after the backoff: exactly one more try
    for _ in range(3):
        with pytest.raises(ApiError):
            auth.headers()
    assert calls(rsps, TOKEN_URL) == 3
    assert calls(rsps, LOGIN_URL) == 0
    no_secrets(log_stream.getvalue(), *map(str, errors))


def test_oauth_guard_resets_on_success(rsps, auth, clock):
    rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    rsps.post(TOKEN_URL, json={"access_token": TOKENS[0], "expires_in": 3600})
    logins(rsps, {"sessionToken": SESSIONS[0]})
    with pytest.raises(ApiError):
        auth.headers()
    clock.t += 31
    auth.headers()
    assert auth.oauth_guard.failures == 0


def test_failed_logins_back_off_and_hard_stop_at_four(rsps, auth, clock, metrics, log_stream):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 10**7})
    rsps.post(
        LOGIN_URL,
        status=400,
        json={
            "errorCode": "UnifiedWebService.AUTHENTICATION_FAILED",
            "errorMessage": f"Invalid username or password {PASSWORD}",
        },
    )
    seen = []
    for _ in range(30):  # a caller that keeps asking, far apart in time
        try:
            auth.headers()
        except ApiError as exc:
            seen.append(exc)
        clock.t += 4000
    assert calls(rsps, LOGIN_URL) == 4  # never the fifth attempt that would lock the account
    assert all(isinstance(e, ApiError) for e in seen) and len(seen) == 30
    assert "until restart" in str(seen[-1])
    assert sample(metrics, "thingspace_auth_rejections_total", kind="login") == 4
    no_secrets(log_stream.getvalue(), *map(str, seen))


def test_failed_login_two_in_a_row_then_waits(rsps, auth, clock):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 10**7})
    rsps.post(LOGIN_URL, status=401, json={"errorCode": "UnifiedWebService.AUTHENTICATION_FAILED"})
    for _ in range(6):
        with pytest.raises(ApiError):
            auth.headers()
        clock.t += 31
    assert calls(rsps, LOGIN_URL) == 2


def test_first_rejection_pauses_other_callers_of_the_same_cycle(rsps, auth, clock):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 10**7})
    rsps.post(LOGIN_URL, status=401, json={"errorCode": "UnifiedWebService.AUTHENTICATION_FAILED"})
    reasons = []
    for _ in range(3):  # three accounts of one cycle
        with pytest.raises(ApiError) as e:
            auth.headers()
        reasons.append(e.value.reason)
    assert calls(rsps, LOGIN_URL) == 1
    assert reasons == ["credentials_rejected", "auth_backoff", "auth_backoff"]


def test_login_rejecting_the_bearer_token_gets_a_new_token_not_a_lockout_count(rsps, auth):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 3600}, {"access_token": TOKENS[1], "expires_in": 3600})
    rsps.post(LOGIN_URL, status=401, json={"fault": {"code": "900901", "message": "Invalid Credentials"}})
    logins(rsps, {"sessionToken": SESSIONS[0]})
    with pytest.raises(ApiError) as e:
        auth.headers()
    assert e.value.reason == "token_rejected" and auth.login_guard.failures == 0
    assert auth.headers() == {"Authorization": f"Bearer {TOKENS[1]}", "VZ-M2M-Token": SESSIONS[0]}


@pytest.mark.parametrize(
    "doc,reason", [({"token_type": "bearer"}, "bad_response"), ({"access_token": ""}, "bad_response")]
)
def test_token_response_without_access_token(rsps, auth, doc, reason):
    rsps.post(TOKEN_URL, json=doc)
    with pytest.raises(ApiError) as e:
        auth.headers()
    assert e.value.reason == reason


def test_token_response_not_json(rsps, auth):
    rsps.post(TOKEN_URL, body="<html>hi</html>")
    with pytest.raises(ApiError) as e:
        auth.headers()
    assert e.value.reason == "bad_json"


def test_login_response_without_session_token(rsps, auth):
    tokens(rsps, {"access_token": TOKENS[0]})
    rsps.post(LOGIN_URL, json={"something": 1})
    with pytest.raises(ApiError) as e:
        auth.headers()
    assert e.value.reason == "bad_response"


def slow(doc, delay=0.2):
    def cb(request):
        time.sleep(delay)
        return 200, {"Content-Type": "application/json"}, json.dumps(doc)

    return cb


def test_concurrent_callers_share_one_token_fetch_and_one_login(rsps, auth):
    rsps.add_callback(responses.POST, TOKEN_URL, callback=slow({"access_token": TOKENS[0], "expires_in": 3600}))
    rsps.add_callback(responses.POST, LOGIN_URL, callback=slow({"sessionToken": SESSIONS[0]}))
    barrier = threading.Barrier(8)
    results = []

    def run():
        barrier.wait()
        results.append(auth.headers())

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert calls(rsps, TOKEN_URL) == 1 and calls(rsps, LOGIN_URL) == 1


def test_concurrent_session_rejections_share_one_new_login(rsps, client):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 3600})
    rsps.add_callback(responses.POST, LOGIN_URL, callback=slow({"sessionToken": SESSIONS[0]}, 0.05))
    rsps.add_callback(responses.POST, LOGIN_URL, callback=slow({"sessionToken": SESSIONS[1]}, 0.05))

    def devices(request):
        time.sleep(0.05)
        if request.headers["VZ-M2M-Token"] == SESSIONS[0]:
            return 403, {}, json.dumps({"errorCode": SESSION_CODES[0], "errorMessage": "expired"})
        return 200, {}, json.dumps(page([device("350000000000001")]))

    rsps.add_callback(responses.GET, DEVICES_URL, callback=devices)
    barrier = threading.Barrier(6)
    results, errors = [], []

    def run():
        barrier.wait()
        try:
            results.append(device_page(client, ACCOUNT, "0"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and len(results) == 6
    assert calls(rsps, LOGIN_URL) == 2 and calls(rsps, TOKEN_URL) == 1


def test_logout_sends_both_tokens_and_forgets_the_session(rsps, auth, log_stream):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 3600})
    logins(rsps, {"sessionToken": SESSIONS[0]}, {"sessionToken": SESSIONS[1]})
    rsps.post(LOGOUT_URL, json={})
    auth.headers()
    auth.logout()
    req = [c.request for c in rsps.calls if c.request.url == LOGOUT_URL][0]
    assert req.headers["VZ-M2M-Token"] == SESSIONS[0] and req.headers["Authorization"] == f"Bearer {TOKENS[0]}"
    assert auth.headers()["VZ-M2M-Token"] == SESSIONS[1]
    no_secrets(log_stream.getvalue())


def test_logout_without_session_makes_no_call(rsps, auth):
    auth.logout()
    assert len(rsps.calls) == 0


def test_logout_failure_is_only_logged(rsps, auth, log_stream):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 3600})
    logins(rsps, {"sessionToken": SESSIONS[0]})
    rsps.post(LOGOUT_URL, status=500, body="down")
    auth.headers()
    auth.transport.session.get_adapter(BASE).max_retries.total = 0
    auth.logout()
    assert "logout_failed" in log_stream.getvalue()
    no_secrets(log_stream.getvalue())


# --- rejected logins across restarts, budgets of shards, credentials read again ----------------


def rejecting_login(rsps):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 10**7})
    rsps.post(
        LOGIN_URL,
        status=400,
        json={"errorCode": "UnifiedWebService.AUTHENTICATION_FAILED", "errorMessage": "Invalid username or password"},
    )


def keep_asking(auth, clock, times=10):
    errors = []
    for _ in range(times):
        with pytest.raises(ApiError) as e:
            auth.headers()
        errors.append(e.value)
        clock.t += 4000
    return errors


def make_auth(metrics, stop, log, clock, **kw):
    return Auth(
        Transport(BASE, metrics, stop), CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD, metrics, log, clock=clock, **kw
    )


def test_rejected_logins_survive_restarts_so_no_schedule_of_restarts_locks_the_user(
    rsps, metrics, stop, log, clock, tmp_path
):
    rejecting_login(rsps)
    for _ in range(10):  # ten restarts, each asking a few times: cron --once, or a crash loop
        restarted = make_auth(metrics, stop, log, clock, login_store=LoginFailures(str(tmp_path), USERNAME))
        for _ in range(3):
            with pytest.raises(ApiError):
                restarted.headers()
            clock.t += 4000
        restarted.transport.close()
    assert calls(rsps, LOGIN_URL) == 4
    assert LoginFailures(str(tmp_path), USERNAME).load()[0] == 4
    final = make_auth(metrics, stop, log, clock, login_store=LoginFailures(str(tmp_path), USERNAME))
    with pytest.raises(ApiError) as e:
        final.headers()
    assert e.value.reason == "auth_backoff" and "--reset-login-failures" in str(e.value)


def test_a_restart_waits_out_the_back_off_in_wall_clock_time(rsps, metrics, stop, log, clock, tmp_path):
    rejecting_login(rsps)
    wall = [1_000_000.0]
    store = LoginFailures(str(tmp_path), USERNAME)
    first = make_auth(metrics, stop, log, clock, login_store=store, wall=lambda: wall[0])
    for _ in range(2):
        with pytest.raises(ApiError):
            first.headers()
        clock.t += 31
        wall[0] += 31
    assert calls(rsps, LOGIN_URL) == 2  # two rejections: now 300 s of back-off
    clock.t = 5.0  # a new process: its monotonic clock means nothing to the old one's
    wall[0] += 100
    again = make_auth(metrics, stop, log, clock, login_store=store, wall=lambda: wall[0])
    with pytest.raises(ApiError) as e:
        again.headers()
    assert e.value.reason == "auth_backoff" and calls(rsps, LOGIN_URL) == 2
    clock.t += 200
    wall[0] += 200
    with pytest.raises(ApiError) as e:
        again.headers()
    assert e.value.reason == "credentials_rejected" and calls(rsps, LOGIN_URL) == 3


@pytest.mark.parametrize("budget", [1, 2, 4])
def test_a_shard_fails_no_more_logins_than_its_budget(rsps, metrics, stop, log, clock, budget):
    rejecting_login(rsps)
    auth = make_auth(metrics, stop, log, clock, login_budget=budget)
    keep_asking(auth, clock, 30)
    assert calls(rsps, LOGIN_URL) == budget


def test_a_success_clears_the_stored_count(rsps, metrics, stop, log, clock, tmp_path):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 10**7})
    rsps.post(LOGIN_URL, status=401, json={"errorCode": "UnifiedWebService.AUTHENTICATION_FAILED"})
    logins(rsps, {"sessionToken": SESSIONS[0]})
    store = LoginFailures(str(tmp_path), USERNAME)
    auth = make_auth(metrics, stop, log, clock, login_store=store)
    with pytest.raises(ApiError):
        auth.headers()
    assert store.load()[0] == 1
    clock.t += 31
    auth.headers()
    assert store.load() == (0, 0.0) and not store.path.exists()


def test_rotated_credentials_are_read_again_and_tried_without_waiting(rsps, metrics, stop, log, clock, log_stream):
    tokens(rsps, {"access_token": TOKENS[0], "expires_in": 10**7})
    new_password = "rotated-Pa55word-77"

    def login(request):
        ok = json.loads(request.body)["password"] == new_password
        return (
            (200, {}, json.dumps({"sessionToken": SESSIONS[0]}))
            if ok
            else (401, {}, json.dumps({"errorCode": "UnifiedWebService.AUTHENTICATION_FAILED"}))
        )

    rsps.add_callback(responses.POST, LOGIN_URL, callback=login)
    mounted = {"password": PASSWORD}
    auth = make_auth(
        metrics, stop, log, clock, reload=lambda: (CLIENT_ID, CLIENT_SECRET, USERNAME, mounted["password"])
    )
    for _ in range(2):
        with pytest.raises(ApiError):
            auth.headers()
        clock.t += 31
    assert calls(rsps, LOGIN_URL) == 2  # in back-off now, for 300 s
    with pytest.raises(ApiError) as e:
        auth.headers()
    assert e.value.reason == "auth_backoff" and calls(rsps, LOGIN_URL) == 2  # unchanged: no try
    mounted["password"] = new_password  # Kubernetes updates the mounted file
    assert auth.headers()["VZ-M2M-Token"] == SESSIONS[0]
    assert calls(rsps, LOGIN_URL) == 3 and auth.login_guard.failures == 0
    assert new_password not in log_stream.getvalue()
    assert '"credentials_changed"' in log_stream.getvalue()


def test_a_credential_file_caught_mid_rotation_keeps_the_old_values(rsps, metrics, stop, log, clock, log_stream):
    rejecting_login(rsps)

    def broken():
        raise OSError("No such file or directory")

    auth = make_auth(metrics, stop, log, clock, reload=broken)
    keep_asking(auth, clock, 3)
    assert calls(rsps, LOGIN_URL) == 3
    assert "credentials_reload_failed" in log_stream.getvalue()
