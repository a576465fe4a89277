"""transport: retries, Retry-After, timeouts, size limit and shutdown against a tiny real server."""

import gzip
import json
import threading
import time

import pytest
import responses
from thingspace_exporter.thingspace import transport as transport_mod
from thingspace_exporter.thingspace.errors import ApiError, Stopped
from thingspace_exporter.thingspace.transport import USER_AGENT, Transport
from ts_builders import BASE, sample, wait_for


@pytest.fixture
def make(metrics, stop):
    made = []

    def make(base_url, **kw):
        t = Transport(base_url, metrics, stop, **kw)
        # keep the jittered exponential backoff but small, so tests stay fast
        t.session.get_adapter(base_url).max_retries.backoff_factor = 0.01
        t.session.get_adapter(base_url).max_retries.backoff_jitter = 0.01
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def test_retries_are_counted_under_the_endpoint_the_caller_names(tiny_server, make, metrics):
    """Not guessed from the URL: a path the transport has never heard of is counted as named."""
    tiny_server.script = [
        {"status": 503, "body": b""},
        {"body": {"ok": 1}},
        {"status": 502, "body": b""},
        {"body": {"ok": 2}},
    ]
    t = make(tiny_server.url)
    t.request("campaign_devices", "GET", "/api/fota/v3/reports/a/campaigns/c/devices")
    t.request("licenses", "GET", "/api/fota/v3/devices/looks-like-devices")
    assert sample(metrics, "thingspace_api_retries_total", endpoint="campaign_devices", reason="http_503") == 1
    assert sample(metrics, "thingspace_api_retries_total", endpoint="licenses", reason="http_502") == 1
    assert not sample(metrics, "thingspace_api_retries_total", endpoint="devices", reason="http_502")


def test_success_sends_user_agent_and_counts(tiny_server, make, metrics):
    tiny_server.script = [{"body": {"ok": 1}}]
    t = make(tiny_server.url)
    assert json.loads(t.request("devices", "GET", "/api/fota/v3/devices/a")) == {"ok": 1}
    assert tiny_server.requests[0]["headers"]["User-Agent"] == USER_AGENT
    assert "0.1.0" in USER_AGENT
    assert sample(metrics, "thingspace_api_requests_total", endpoint="devices") == 1
    assert sample(metrics, "thingspace_api_request_duration_seconds_count", endpoint="devices") == 1


def test_429_with_retry_after_is_honoured_then_succeeds(tiny_server, make, metrics):
    tiny_server.script = [{"status": 429, "headers": {"Retry-After": "1"}, "body": b""}, {"body": {"ok": 1}}]
    t = make(tiny_server.url)
    started = time.monotonic()
    assert json.loads(t.request("devices", "GET", "/x")) == {"ok": 1}
    assert len(tiny_server.requests) == 2
    assert time.monotonic() - started >= 0.9  # it waited for Retry-After, not its own tiny backoff
    assert sample(metrics, "thingspace_api_retries_total", endpoint="devices", reason="http_429") == 1
    assert sample(metrics, "thingspace_api_requests_total", endpoint="devices") == 1


def test_429_retries_spent_is_rate_limited(tiny_server, make, metrics):
    tiny_server.script = [{"status": 429, "headers": {"Retry-After": "0"}, "body": b""}]
    t = make(tiny_server.url, retries=2)
    with pytest.raises(ApiError) as e:
        t.request("devices", "GET", "/x")
    assert e.value.reason == "rate_limited" and e.value.status == 429
    assert len(tiny_server.requests) == 3


def test_the_last_429_too_slows_the_shared_rate_and_holds_back_the_next_request(tiny_server, make, metrics):
    tiny_server.script = [{"status": 429, "headers": {"Retry-After": "1"}, "body": b""}, {"body": {"ok": 1}}]
    t = make(tiny_server.url, retries=0, rate=50)
    assert sample(metrics, "thingspace_api_request_rate_limit") == 50
    with pytest.raises(ApiError) as e:
        t.request("devices", "GET", "/x")
    throttled_at = time.monotonic()
    assert e.value.reason == "rate_limited"
    assert t.limiter.rate < 50 and t.limiter.limit is not None  # no retry, yet the limiter heard of it
    assert sample(metrics, "thingspace_api_request_rate_limit") == t.limiter.rate
    t.request("firmware", "GET", "/y")
    assert time.monotonic() - throttled_at >= 0.9  # another endpoint's request waited for Retry-After
    assert sample(metrics, "thingspace_api_request_rate_limit") > t.limiter.limit * 0.7 - 1e-9  # grown


def test_a_429_holds_back_every_caller_not_just_the_retrying_one(tiny_server, make):
    tiny_server.script = [
        *[{"body": {"ok": 1}}] * 10,
        {"status": 429, "headers": {"Retry-After": "1"}, "body": b""},
        {"body": {"ok": 1}},
    ]
    t = make(tiny_server.url)
    for _ in range(10):  # some traffic first, so the rate after the 429 is not a crawl
        t.request("devices", "GET", "/")
    first = threading.Thread(target=t.request, args=("devices", "GET", "/a"))
    first.start()
    assert wait_for(lambda: t.limiter.limit is not None)  # the 429 has been answered
    started = time.monotonic()
    t.request("devices", "GET", "/b")
    assert time.monotonic() - started >= 0.8
    first.join(10)
    assert [r["path"] for r in tiny_server.requests[11:]] in (["/a", "/b"], ["/b", "/a"])


def test_no_ceiling_shows_as_0_until_a_429(tiny_server, make, metrics):
    tiny_server.script = [{"body": {"ok": 1}}]
    t = make(tiny_server.url)
    for _ in range(5):
        t.request("devices", "GET", "/x")
    assert sample(metrics, "thingspace_api_request_rate_limit") == 0


def test_5xx_retried_then_fails_with_server_error(tiny_server, make, metrics):
    tiny_server.script = [{"status": 502, "body": {"errorCode": "INTERNAL_ERROR", "errorMessage": "x"}}]
    t = make(tiny_server.url, retries=3)
    with pytest.raises(ApiError) as e:
        t.request("devices", "GET", "/x")
    assert e.value.reason == "server_error" and e.value.code == "INTERNAL_ERROR"
    assert len(tiny_server.requests) == 4
    assert sample(metrics, "thingspace_api_request_failures_total", endpoint="devices", reason="server_error") == 1
    assert sample(metrics, "thingspace_api_retries_total", endpoint="devices", reason="http_502") == 3


def test_5xx_then_success(tiny_server, make):
    tiny_server.script = [{"status": 500}, {"status": 504}, {"body": {"ok": 2}}]
    t = make(tiny_server.url)
    assert json.loads(t.request("devices", "GET", "/x")) == {"ok": 2}
    assert len(tiny_server.requests) == 3


def test_post_is_retried_too(tiny_server, make):
    tiny_server.script = [{"status": 503}, {"body": {"access_token": "t"}}]
    t = make(tiny_server.url)
    t.request("token", "POST", "/api/ts/v1/oauth2/token", data={"grant_type": "client_credentials"})
    assert len(tiny_server.requests) == 2 and tiny_server.requests[1]["body"] == b"grant_type=client_credentials"


def test_html_503_is_parsed_as_non_json(tiny_server, make):
    html = b"<html><head><title>503</title></head><body>Service Unavailable</body></html>"
    tiny_server.script = [{"status": 503, "headers": {"Content-Type": "text/html"}, "body": html}]
    t = make(tiny_server.url, retries=1)
    with pytest.raises(ApiError) as e:
        t.request("devices", "GET", "/x")
    assert e.value.reason == "server_error" and "non-JSON body" in e.value.message
    assert len(tiny_server.requests) == 2


def test_4xx_is_not_retried(tiny_server, make):
    tiny_server.script = [
        {"status": 400, "body": {"errorCode": "INVALID_PARAMETER", "errorMessage": "Inactive account"}}
    ]
    t = make(tiny_server.url)
    with pytest.raises(ApiError) as e:
        t.request("devices", "GET", "/x")
    assert e.value.reason == "invalid_parameter" and len(tiny_server.requests) == 1


def test_read_timeout_gives_reason_timeout_without_retries(tiny_server, make, metrics):
    tiny_server.script = [{"hang": 5}]
    t = make(tiny_server.url, timeout=0.2, retries=0)
    with pytest.raises(ApiError) as e:
        t.request("devices", "GET", "/x")
    assert e.value.reason == "timeout"
    assert sample(metrics, "thingspace_api_request_failures_total", endpoint="devices", reason="timeout") == 1


def test_read_timeout_after_retries_gives_reason_timeout(tiny_server, make, metrics):
    tiny_server.script = [{"hang": 5}]
    t = make(tiny_server.url, timeout=0.2, retries=1)
    with pytest.raises(ApiError) as e:
        t.request("devices", "GET", "/x")
    assert e.value.reason == "timeout"
    assert len(tiny_server.requests) == 2


def test_timeout_then_success(tiny_server, make):
    tiny_server.script = [{"hang": 5}, {"body": {"ok": 3}}]
    t = make(tiny_server.url, timeout=0.2, retries=2)
    assert json.loads(t.request("devices", "GET", "/x")) == {"ok": 3}


def test_connection_refused_is_connection(make):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t = make(f"http://127.0.0.1:{port}", retries=0)
    with pytest.raises(ApiError) as e:
        t.request("devices", "GET", "/x")
    assert e.value.reason == "connection"


def test_body_over_the_size_limit(tiny_server, make, monkeypatch, metrics):
    monkeypatch.setattr(transport_mod, "MAX_BODY_BYTES", 1000)
    tiny_server.script = [{"body": b"x" * 5000}]
    t = make(tiny_server.url)
    with pytest.raises(ApiError) as e:
        t.request("devices", "GET", "/x")
    assert e.value.reason == "too_large"
    assert sample(metrics, "thingspace_api_request_failures_total", endpoint="devices", reason="too_large") == 1


def test_compressed_body_over_the_limit_once_decoded(tiny_server, make, monkeypatch):
    monkeypatch.setattr(transport_mod, "MAX_BODY_BYTES", 1000)
    packed = gzip.compress(b"x" * 5000)
    assert len(packed) < 1000
    tiny_server.script = [{"headers": {"Content-Encoding": "gzip"}, "body": packed}]
    with pytest.raises(ApiError) as e:
        make(tiny_server.url).request("devices", "GET", "/x")
    assert e.value.reason == "too_large"


def test_body_cut_short_is_a_connection_failure(tiny_server, make, metrics):
    tiny_server.script = [{"body": b"x" * 5000, "cut": 1200}]
    with pytest.raises(ApiError) as e:
        make(tiny_server.url, retries=0).request("devices", "GET", "/x")
    assert e.value.reason == "connection"
    assert sample(metrics, "thingspace_api_request_failures_total", endpoint="devices", reason="connection") == 1


def test_gzip_body_is_decoded(tiny_server, make):
    tiny_server.script = [
        {
            "headers": {"Content-Encoding": "gzip", "Content-Type": "application/json"},
            "body": gzip.compress(b'{"a": 1}'),
        }
    ]
    assert make(tiny_server.url).request("devices", "GET", "/x") == b'{"a": 1}'


def test_stop_interrupts_a_retry_after_sleep(tiny_server, make, stop):
    tiny_server.script = [{"status": 429, "headers": {"Retry-After": "30"}, "body": b""}, {"body": {}}]
    t = make(tiny_server.url)
    result = {}

    def run():
        try:
            t.request("devices", "GET", "/x")
            result["r"] = "returned"
        except BaseException as exc:  # noqa: BLE001
            result["r"] = exc

    th = threading.Thread(target=run)
    th.start()
    assert wait_for(lambda: len(tiny_server.requests) == 1)
    time.sleep(0.1)
    stop.set()
    th.join(10)
    assert not th.is_alive()
    assert isinstance(result["r"], Stopped)
    assert len(tiny_server.requests) == 1


def test_stopped_before_sending(make, stop, tiny_server):
    stop.set()
    with pytest.raises(Stopped):
        make(tiny_server.url).request("devices", "GET", "/x")
    assert tiny_server.requests == []


def test_deadline_already_passed(make, tiny_server):
    with pytest.raises(ApiError) as e:
        make(tiny_server.url).request("devices", "GET", "/x", deadline=time.monotonic() - 1)
    assert e.value.reason == "deadline" and tiny_server.requests == []


def test_retry_after_is_capped(monkeypatch):
    from urllib3 import HTTPResponse

    r = transport_mod.StoppableRetry(total=1)
    resp = HTTPResponse(body=b"", headers={"Retry-After": "3600"}, status=429)
    assert r.get_retry_after(resp) == transport_mod.MAX_RETRY_AFTER


@responses.activate
def test_no_secret_in_logs_or_errors_with_responses(metrics, stop, log_stream):
    from thingspace_exporter.logs import redactor

    secret = "transport-secret-value-xyz"
    redactor.add(secret)
    responses.post(
        BASE + "/api/ts/v1/oauth2/token",
        status=401,
        json={"error": "invalid_client", "error_description": f"bad key {secret}"},
    )
    t = Transport(BASE, metrics, stop)
    with pytest.raises(ApiError) as e:
        t.request("token", "POST", "/api/ts/v1/oauth2/token", auth=("id", secret))
    assert secret not in str(e.value) and secret not in repr(e.value.args)
    assert secret not in log_stream.getvalue()
