"""server: the WSGI app behind a real bound server on port 0."""

import gzip
import http.client
import json
import threading

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse

from thingspace_exporter import server
from thingspace_exporter.aggregation import Aggregator
from thingspace_exporter.decode import decode_page
from thingspace_exporter.exposition import render
from thingspace_exporter.snapshot import AccountSnapshot, SnapshotStore
from ts_builders import device, page


class FakeCollection:
    def __init__(self):
        self.ready = threading.Event()
        self.health = (True, "ok")

    def healthy(self):
        return self.health


class FakeExporter:
    def __init__(self, metrics):
        self.store = SnapshotStore(render)
        self.metrics = metrics
        self.collection = FakeCollection()


@pytest.fixture
def exporter(metrics):
    return FakeExporter(metrics)


@pytest.fixture
def url(exporter):
    httpd = server.bind("127.0.0.1", 0, server.make_app(exporter))
    thread = server.serve(httpd)
    yield ("127.0.0.1", httpd.server_port)
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


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
    exporter.store.publish(AccountSnapshot("acc", a.result(), 1.6e9))


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
    status, headers, data = get(url, "/metrics", headers={
        "Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    text = gzip.decompress(data).decode()
    assert text == plain.decode()
    names = {f.name for f in om_parse(text)}
    assert {"thingspace_devices", "thingspace_device_last_connection_age_seconds"} <= names


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
