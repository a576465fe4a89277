"""server: the WSGI app behind a real bound server on port 0, and how that server holds up
against slow, many and malformed clients (behaviour only; speed is for bench/)."""

import gzip
import http.client
import json
import re
import resource
import socket
import ssl
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse
from thingspace_exporter.collection.rendering import render
from thingspace_exporter.collection.snapshots import Snapshot, SnapshotStore
from thingspace_exporter.collectors.device_aggregation import Aggregator
from thingspace_exporter.collectors.device_pages import decode_page
from thingspace_exporter.web import endpoints as server
from thingspace_exporter.web import http_server
from thingspace_exporter.web.view import Status
from ts_builders import device, page, wait_for

from tests.pki import make_pki


class FakeCollection:
    def __init__(self):
        self.ready = threading.Event()
        self.health = (True, "ok")

    def healthy(self):
        return self.health


class FakeExporter:
    """The web side's view of an exporter (web.view.View), over a real snapshot store."""

    def __init__(self, metrics):
        self.store = SnapshotStore(render)
        self.metrics = metrics
        self.registry = metrics.registry
        self.collection = FakeCollection()

    def exposition(self):
        return self.store.derived

    def healthy(self):
        return self.collection.healthy()

    def ready(self):
        return self.collection.ready.is_set()

    def status(self):
        return Status(60.0, ("devices",), ("devices",), (), False, None, 0, 1)


@pytest.fixture
def exporter(metrics):
    return FakeExporter(metrics)


class Running:
    """A bound and serving server; `errors` collects what it reports of app failures."""

    def __init__(self, exporter, limits=None, ssl_context=None, authorize=None, defer=None):
        self.errors = []
        app = server.make_app(exporter, authorize)
        self.httpd = server.bind("127.0.0.1", 0, app, limits, ssl_context, on_error=self.errors.append, defer=defer)
        self.thread = server.serve(self.httpd)
        self.addr = ("127.0.0.1", self.httpd.server_port)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def running(exporter):
    r = Running(exporter)
    yield r
    r.close()


@pytest.fixture
def url(running):
    return running.addr


def get(url, path, method="GET", headers=None):
    conn = http.client.HTTPConnection(*url, timeout=5)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def publish(exporter):
    a = Aggregator((3600.0,))
    a.add(decode_page(json.dumps(page([device("1")])).encode()).deviceList, 1.6e9)
    exporter.store.publish(Snapshot("acc", a.result(), 1.6e9, "devices"))


def test_metrics_text(url, exporter):
    exporter.metrics.up.labels("acc").set(1)
    publish(exporter)
    status, headers, data = get(url, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert int(headers["Content-Length"]) == len(data)
    fams = {f.name: f for f in text_parse(data.decode())}
    assert fams["thingspace_devices"].samples[0].labels["account"] == "acc"
    assert fams["thingspace_up"].samples[0].value == 1


def test_metrics_gzip_and_openmetrics(url, exporter):
    publish(exporter)
    _, _, plain = get(url, "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    status, headers, data = get(
        url, "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"}
    )
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    text = gzip.decompress(data).decode()
    assert text == plain.decode()
    names = {f.name for f in om_parse(text)}
    assert {"thingspace_devices", "thingspace_device_last_connection_age_seconds"} <= names


def test_metrics_of_many_accounts_is_served_whole_in_every_form(url, exporter):
    """Thousands of pieces (more than one sendmsg takes): every byte arrives, in order."""
    a = Aggregator((3600.0,))
    a.add(decode_page(json.dumps(page([device("1")])).encode()).deviceList, 1.6e9)
    for i in range(300):
        exporter.store.publish(Snapshot(f"acc{i:03d}", a.result(), 1.6e9, "devices"))
    rendered = exporter.store.derived
    assert len(rendered.text_parts) > 1024
    _, headers, plain = get(url, "/metrics")
    assert int(headers["Content-Length"]) == len(plain) and plain.startswith(rendered.text)
    accounts = {s.labels["account"] for f in text_parse(plain.decode()) for s in f.samples if "account" in s.labels}
    assert len(accounts) == 300
    _, _, packed = get(url, "/metrics", headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(packed).startswith(rendered.text)


def test_responses_left_partly_sent_are_resumed_where_they_stopped(url, exporter):
    """Pipelined scrapes that a client reads only later: the server fills the socket and stops
    within pieces again and again (a 16 KB receive buffer); each response still arrives whole."""
    a = Aggregator((3600.0,))
    a.add(decode_page(json.dumps(page([device("1")])).encode()).deviceList, 1.6e9)
    for i in range(300):
        exporter.store.publish(Snapshot(f"acc{i:03d}", a.result(), 1.6e9, "devices"))
    _, _, whole = get(url, "/metrics")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(10)
    received = bytearray()
    try:
        s.connect(url)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 29 + b"GET /metrics HTTP/1.0\r\n\r\n")
        time.sleep(0.3)  # not a bound: only lets the server run into a full socket first
        while chunk := s.recv(1 << 16):
            received += chunk
    finally:
        s.close()
    bodies = []
    while received:
        head, _, rest = bytes(received).partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head)[1])
        assert head.startswith(b"HTTP/1.1 200")
        bodies.append(rest[:length])
        received = bytearray(rest[length:])
    assert len(whole) > 100_000 and bodies == [whole] * 30


def test_metrics_head(url):
    status, headers, data = get(url, "/metrics", method="HEAD")
    assert status == 200 and data == b"" and int(headers["Content-Length"]) > 0


def test_landing_page(url):
    status, headers, data = get(url, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'href="metrics"' in data


def test_healthy(url, exporter):
    assert get(url, "/-/healthy")[0] == 200
    exporter.collection.health = (False, "collection loop has stopped")
    status, _, data = get(url, "/-/healthy")
    assert status == 503 and b"stopped" in data


def test_ready_503_then_200(url, exporter):
    assert get(url, "/-/ready")[0] == 503
    exporter.collection.ready.set()
    assert get(url, "/-/ready")[0] == 200


@pytest.mark.parametrize("path", ["/nope", "/metrics/", "/-/", "/favicon.ico"])
def test_not_found(url, path):
    assert get(url, path)[0] == 404


def test_method_not_allowed(url):
    assert get(url, "/metrics", method="POST")[0] == 405


def test_port_in_use_fails_at_bind(exporter):
    first = server.bind("127.0.0.1", 0, server.make_app(exporter))
    try:
        with pytest.raises(OSError):
            server.bind("127.0.0.1", first.server_port, server.make_app(exporter))
    finally:
        first.server_close()


def test_keep_alive_serves_several_requests_on_one_connection(url):
    conn = http.client.HTTPConnection(*url, timeout=5)
    for path in ("/metrics", "/-/healthy", "/metrics"):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200 and resp.getheader("Connection") is None
    sock = conn.sock
    conn.request("GET", "/")
    conn.getresponse().read()
    assert conn.sock is sock  # still the same connection
    conn.close()


def test_http10_is_answered_and_closed(url):
    data = exchange(url, b"GET /-/healthy HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ") and b"\r\nConnection: close\r\n" in data and data.endswith(b"ok\n")


def test_pipelined_requests_are_answered_in_order(url):
    data = exchange(
        url,
        b"GET /-/ready HTTP/1.1\r\nHost: x\r\n\r\nGET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert statuses(data) == [503, 200, 404]


@pytest.mark.parametrize("path", ["/", "/-/healthy", "/-/ready", "/nope"])
def test_head_sends_no_body(url, path):
    data = exchange(url, f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, rest = data.partition(b"\r\n\r\n")
    assert rest == b"" and int(re.search(rb"Content-Length: (\d+)", head).group(1)) > 0


def test_authorize_hook_sees_every_request_and_can_refuse(exporter):
    seen = []

    def authorize(environ):
        seen.append(environ["PATH_INFO"])
        if environ.get("HTTP_AUTHORIZATION") != "Basic dTpw":
            return "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="thingspace-exporter"')]
        return None

    r = Running(exporter, authorize=authorize)
    try:
        status, headers, data = get(r.addr, "/metrics")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic") and b"thingspace_up" not in data
        assert get(r.addr, "/metrics", headers={"Authorization": "Basic dTpw"})[0] == 200
        assert seen == ["/metrics", "/metrics"]
    finally:
        r.close()


# Slow and many clients ---------------------------------------------------------------------------


def exchange(addr, request: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, say we are done, read until the server closes."""
    with socket.create_connection(addr, timeout=timeout) as s:
        try:
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
        except OSError:  # the server may close (and reset) before it has everything
            pass
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def statuses(data: bytes) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(rb"(?:^|\n)HTTP/1\.1 (\d{3}) ", data)]


def closed_by_server(sock: socket.socket) -> bool:
    """Waits (up to the socket's timeout) for the server to close without a word."""
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_request_head_never_finished_is_closed_after_header_timeout(exporter):
    r = Running(exporter, server.Limits(header_timeout=0.3, idle_timeout=30))
    try:
        with socket.create_connection(r.addr, timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            assert closed_by_server(s)
        with socket.create_connection(r.addr, timeout=10) as s:  # trickling bytes does not extend it
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            for _ in range(100):  # a byte every 0.05 s
                try:
                    s.sendall(b"X")
                except OSError:
                    break
                if closed_by_server_soon(s):
                    break
            else:
                pytest.fail("still open after 100 trickled bytes")
        assert get(r.addr, "/-/healthy")[0] == 200
    finally:
        r.close()


def closed_by_server_soon(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return closed_by_server(sock)
    finally:
        sock.settimeout(10)


def test_idle_kept_alive_connection_is_closed_after_idle_timeout(exporter):
    r = Running(exporter, server.Limits(header_timeout=30, idle_timeout=0.3))
    try:
        with socket.create_connection(r.addr, timeout=10) as s:
            s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b"ok\n"):
                data += s.recv(4096)
            assert statuses(data) == [200] and b"Connection: close" not in data
            assert closed_by_server(s)
    finally:
        r.close()


def raise_open_files(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            pytest.skip(f"needs {n} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def half_sent(addr, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(addr, timeout=10)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    return socks


def test_2000_half_sent_requests_hold_no_threads_and_a_scrape_is_served(exporter):
    raise_open_files(2 * 2000 + 256)  # both ends of every connection live in this process
    publish(exporter)
    r = Running(exporter, server.Limits(header_timeout=60))
    socks = []
    try:
        assert get(r.addr, "/metrics")[0] == 200  # the workers have started
        threads = threading.active_count()
        socks = half_sent(r.addr, 2000)
        status, _, data = get(r.addr, "/metrics")
        assert status == 200 and b"thingspace_devices{" in data
        assert threading.active_count() <= threads + 1  # the one more: a second worker for the scrape
        assert r.httpd.connections() >= 2000  # all still held (and none lost)
    finally:
        for s in socks:
            s.close()
        r.close()


def test_beyond_max_connections_the_longest_waiting_are_closed(exporter):
    r = Running(exporter, server.Limits(header_timeout=60, max_connections=50))
    socks = []
    try:
        socks = half_sent(r.addr, 120)
        assert get(r.addr, "/-/healthy")[0] == 200
        assert r.httpd.connections() <= 50
        assert all(closed_by_server(s) for s in socks[:60])  # the oldest went first
        for s in socks[-20:]:  # the newest are still waiting for the rest of their request
            s.sendall(b"Connection: close\r\n\r\n")
            assert statuses(b"".join(iter(lambda s=s: s.recv(65536), b""))) == [200]
    finally:
        for s in socks:
            s.close()
        r.close()


def test_at_the_cap_bytes_already_received_count_before_new_connections_are_accepted(exporter, monkeypatch):
    # The selector thread is held in a health check while 40 connections queue up with their half
    # requests sent. It then accepts them a batch at a time, and what one batch has sent must count
    # as progress before the next batch is accepted, or the newest are dropped first.
    monkeypatch.setattr(http_server, "ACCEPT_BATCH", 8)
    held, release = threading.Event(), threading.Event()

    def blocking_health():
        held.set()
        release.wait(30)
        return True, "ok"

    r = Running(exporter, server.Limits(header_timeout=60, max_connections=12))
    socks = []
    try:
        exporter.collection.healthy = blocking_health
        probe = threading.Thread(target=get, args=(r.addr, "/-/healthy"))
        probe.start()
        assert held.wait(30)
        socks = half_sent(r.addr, 40)  # accepted 8 at a time
        release.set()
        probe.join(30)
        exporter.collection.healthy = lambda: (True, "ok")
        assert get(r.addr, "/-/healthy")[0] == 200  # one more connection: the 29th oldest goes too
        assert all(closed_by_server(s) for s in socks[:29])
        for s in socks[29:]:
            s.sendall(b"Connection: close\r\n\r\n")
            assert statuses(b"".join(iter(lambda s=s: s.recv(65536), b""))) == [200]
    finally:
        release.set()
        for s in socks:
            s.close()
        r.close()


# Malformed requests ------------------------------------------------------------------------------

MALFORMED = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    "binary without end": bytes(range(256)) * 4,
    "no version": b"GET /metrics\r\n\r\n",
    "HTTP/2.0": b"GET /metrics HTTP/2.0\r\n\r\n",
    "HTTP/0.9": b"GET /metrics HTTP/0.9\r\n\r\n",
    "HTTP/1.1x": b"GET /metrics HTTP/1.1x\r\n\r\n",
    "h2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "extra field in request line": b"GET /metrics HTTP/1.1 x\r\n\r\n",
    "100 KB request line": b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
    "200 KB header": b"GET /metrics HTTP/1.1\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n",
    "many headers": b"GET /metrics HTTP/1.1\r\n" + b"X-A: 1\r\n" * 500 + b"\r\n",
    "POST with body": b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    "PUT chunked": b"PUT /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET with body": b"GET /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    "bad Content-Length": b"GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    "header without colon": b"GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n",
    "folded header": b"GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n  ;q=0.5\r\n\r\n",
    "space before colon": b"GET /metrics HTTP/1.1\r\nAccept : text/plain\r\n\r\n",
    "bad target": b"GET metrics HTTP/1.1\r\n\r\n",
    "NUL in method": b"G\x00T /metrics HTTP/1.1\r\n\r\n",
    "HTTP/1.1 without Host": b"GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n",
    "two Hosts": b"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "NUL in a value": b"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: a\x00b\r\n\r\n",
    "bare CR in a value": b"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: a\rb\r\n\r\n",
}
# Odd but harmless header values: served as usual (text format, no gzip unless it is named).
ODD_VALUES = {
    "bad Accept": b"Accept: ;;;,,,q=abc, application/openmetrics-text;version=9.9.9;;q=\xff\r\n",
    "binary Accept": b"Accept: \x80\x81\xfe\xff\x01\r\n",
    "bad Accept-Encoding": b"Accept-Encoding: gzip;q=banana, *;q=-1, , ;, br\xff\r\n",
    "empty Accept-Encoding": b"Accept-Encoding:\r\n",
    "huge q": b"Accept-Encoding: gzip;q=1e999999\r\n",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_request_gets_a_4xx_or_a_close_and_the_next_scrape_is_served(running, name, capfd):
    data = exchange(running.addr, MALFORMED[name])
    assert data == b"" or data.startswith(b"HTTP/1.1 4"), data[:200]
    assert all(400 <= code < 500 for code in statuses(data))
    assert get(running.addr, "/metrics")[0] == 200
    assert running.errors == [] and "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("name", ODD_VALUES)
def test_odd_accept_values_are_served(running, exporter, name, capfd):
    publish(exporter)
    data = exchange(
        running.addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + ODD_VALUES[name] + b"\r\n"
    )
    assert statuses(data) == [200]
    body = data.partition(b"\r\n\r\n")[2]
    if b"Content-Encoding: gzip" in data:
        body = gzip.decompress(body)
    assert b"thingspace_devices{" in body
    assert running.errors == [] and "Traceback" not in capfd.readouterr().err


@pytest.fixture(scope="module")
def fuzz_server():
    from thingspace_exporter.metrics import ExporterMetrics

    exporter = FakeExporter(ExporterMetrics(process=False))
    r = Running(exporter, server.Limits(header_timeout=2, max_request_line=512, max_head=2048, max_headers=20))
    yield r
    r.close()


def request_bytes():
    token = st.sampled_from([b"GET", b"HEAD", b"POST", b"OPTIONS", b"get", b"G\x00T", b"", b"PRI"])
    target = st.one_of(
        st.sampled_from([b"/metrics", b"/", b"/-/ready", b"*", b"http://h/metrics", b"%zz", b""]),
        st.binary(max_size=600),
    )
    version = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.", b"http/1.1", b"", b"HTTP/1.1 x"])
    header = st.tuples(
        st.one_of(
            st.sampled_from(
                [b"Accept", b"Accept-Encoding", b"Content-Length", b"Connection", b"Transfer-Encoding", b"Host"]
            ),
            st.binary(max_size=20),
        ),
        st.sampled_from([b":", b": ", b"", b" : "]),
        st.binary(max_size=300),
    )
    eol = st.sampled_from([b"\r\n", b"\n", b"\r", b""])
    structured = st.builds(
        lambda t, sp, tg, v, e, hs, end, tail: (
            t + sp + tg + sp + v + e + b"".join(n + c + x + e for n, c, x in hs) + end + tail
        ),
        token,
        st.sampled_from([b" ", b"  ", b"\t"]),
        target,
        version,
        eol,
        st.lists(header, max_size=25),
        st.sampled_from([b"\r\n", b"\n", b""]),
        st.binary(max_size=100),
    )
    return st.one_of(structured, st.binary(max_size=3000))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request_bytes())
def test_generated_requests_never_get_a_5xx_and_the_server_keeps_serving(fuzz_server, data):
    answer = exchange(fuzz_server.addr, data)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 "), answer[:100]
    assert all(code in (200, 404) or 400 <= code < 500 or code == 503 for code in statuses(answer)), answer[:300]
    assert get(fuzz_server.addr, "/-/healthy")[0] == 200
    assert fuzz_server.errors == []


# TLS: the server takes an ssl.SSLContext, client certificates included -------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_with_client_certificates(exporter, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    ctx.load_verify_locations(pki / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED
    subjects = []

    def authorize(environ):
        subjects.append(dict(x[0] for x in environ["ssl.peercert"]["subject"])["commonName"])
        return None

    r = Running(exporter, ssl_context=ctx, authorize=authorize)
    try:
        client = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        client.load_cert_chain(pki / "client.crt", pki / "client.key")
        conn = http.client.HTTPSConnection(*r.addr, context=client, timeout=5)
        for _ in range(2):  # over one kept-alive connection
            conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
            resp = conn.getresponse()
            assert resp.status == 200 and b"thingspace_up" in gzip.decompress(resp.read())
        conn.close()
        assert subjects == ["client", "client"]
        anonymous = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        with pytest.raises((ssl.SSLError, ConnectionError)):  # no client certificate: no request
            conn = http.client.HTTPSConnection(*r.addr, context=anonymous, timeout=5)
            conn.request("GET", "/metrics")
            conn.getresponse().read()
        assert subjects == ["client", "client"]
    finally:
        r.close()


def test_a_failing_app_answers_500_and_the_server_goes_on(exporter):
    def authorize(environ):
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("a bug")
        return None

    r = Running(exporter, authorize=authorize)
    try:
        conn = http.client.HTTPConnection(*r.addr, timeout=5)
        conn.request("GET", "/boom")
        resp = conn.getresponse()
        assert resp.status == 500 and resp.read() == b"internal error\n"
        conn = http.client.HTTPConnection(*r.addr, timeout=5)
        conn.request("GET", "/metrics")
        assert conn.getresponse().status == 200
        assert r.errors == ["RuntimeError: a bug"]
    finally:
        r.close()


# Nothing starves -----------------------------------------------------------------------------------


def test_probes_are_answered_while_every_worker_is_busy(exporter):
    release, busy = threading.Event(), []

    def authorize(environ):  # /metrics holds its worker until released
        if environ["PATH_INFO"] == "/metrics":
            busy.append(1)
            release.wait(30)
        return None

    r = Running(exporter, server.Limits(workers=2), authorize=authorize)
    socks = []
    try:
        for _ in range(6):  # both workers taken, four more queued behind them
            s = socket.create_connection(r.addr, timeout=10)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        assert wait_for(lambda: len(busy) == 2, 20)
        assert get(r.addr, "/-/healthy")[0] == 200 and get(r.addr, "/-/ready")[0] in (200, 503)
        assert len(busy) == 2
    finally:
        release.set()
        for s in socks:
            s.close()
        r.close()


def test_a_deferred_request_waits_for_resume_and_sees_its_client_hang_up(exporter):
    held = []
    r = Running(
        exporter,
        defer=lambda environ, resume: environ["PATH_INFO"] == "/metrics" and not held.append((environ, resume)),
    )
    try:
        s = socket.create_connection(r.addr, timeout=10)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wait_for(lambda: held, 20)
        environ, resume = held[0]
        assert environ["thingspace.connected"]()
        assert get(r.addr, "/-/healthy")[0] == 200  # not behind the deferred one
        resume()
        s.settimeout(10)
        assert statuses(s.recv(65536)) == [200]
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wait_for(lambda: len(held) == 2, 20)
        s.close()
        assert wait_for(lambda: not held[1][0]["thingspace.connected"](), 20)
        held[1][1]()  # resumed after the client left: nothing to answer, nothing breaks
        assert get(r.addr, "/-/healthy")[0] == 200
    finally:
        r.close()
    assert r.errors == []


def non_reader(addr) -> socket.socket:
    """Pipelines requests and never reads: the server ends up stuck writing to it."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(addr)
    s.settimeout(0.2)
    try:
        for _ in range(20_000):
            s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
    except (TimeoutError, OSError):
        pass
    return s


def ended(sock: socket.socket) -> bool:
    """Reads what was sent until the server closes (True) or 10 s pass (False)."""
    sock.settimeout(10)
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def test_at_the_cap_a_new_client_is_served_even_when_all_are_stuck_writing(exporter):
    publish(exporter)
    r = Running(exporter, server.Limits(max_connections=5, write_timeout=60))
    socks = []
    try:
        socks = [non_reader(r.addr) for _ in range(5)]
        assert r.httpd.connections() <= 5
        assert get(r.addr, "/-/healthy")[0] == 200
        assert get(r.addr, "/metrics")[0] == 200
        assert ended(socks[0])  # the one with least progress for longest went first
    finally:
        for s in socks:
            s.close()
        r.close()


def test_shutdown_joins_the_workers(exporter):
    r = Running(exporter)
    assert get(r.addr, "/metrics")[0] == 200
    workers = list(r.httpd._workers)
    r.close()
    assert workers and not any(t.is_alive() for t in workers)
