"""The image's HEALTHCHECK: which URL it asks, and its exit status for each answer."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from thingspace_exporter.web import healthcheck


@pytest.mark.parametrize(
    "address, url",
    [
        (":29811", "http://127.0.0.1:29811/-/healthy"),
        ("0.0.0.0:8000", "http://127.0.0.1:8000/-/healthy"),
        ("[::]:8000", "http://[::1]:8000/-/healthy"),
        ("127.0.0.2:9", "http://127.0.0.2:9/-/healthy"),
        ("[::1]:9", "http://[::1]:9/-/healthy"),
    ],
)
def test_url_reaches_the_listen_address_over_loopback(address, url):
    assert healthcheck.url(address) == url


def serve(status: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status if self.path == "/-/healthy" else 404)
            self.end_headers()
            self.wfile.write(b"why\n")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("status, code", [(200, 0), (503, 1)])
def test_exit_status_follows_the_answer(monkeypatch, status, code):
    server = serve(status)
    try:
        monkeypatch.setenv("THINGSPACE_LISTEN_ADDRESS", f"127.0.0.1:{server.server_port}")
        assert healthcheck.main() == code
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_listening_or_a_bad_address_is_unhealthy(monkeypatch, capsys):
    server = serve(200)
    port = server.server_port
    server.shutdown()
    server.server_close()
    monkeypatch.setenv("THINGSPACE_LISTEN_ADDRESS", f"127.0.0.1:{port}")
    assert healthcheck.main() == 1
    monkeypatch.setenv("THINGSPACE_LISTEN_ADDRESS", "no-port")
    assert healthcheck.main() == 1
    assert "THINGSPACE_LISTEN_ADDRESS" in capsys.readouterr().err


def test_speaks_tls_when_the_web_config_serves_it(monkeypatch, tmp_path):
    from thingspace_exporter.web import endpoints as http_server
    from thingspace_exporter.web.webconfig import load

    from tests.pki import make_pki

    make_pki(tmp_path)
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")

    class Healthy:  # the part of web.view.View that /-/healthy reads
        @staticmethod
        def healthy():
            return True, "ok"

    httpd = http_server.bind("127.0.0.1", 0, http_server.make_app(Healthy), ssl_context=load(str(web)).ssl_context)
    http_server.serve(httpd)
    try:
        monkeypatch.setenv("THINGSPACE_LISTEN_ADDRESS", f"127.0.0.1:{httpd.server_port}")
        assert healthcheck.main() == 1  # plain HTTP to a TLS port
        monkeypatch.setenv("THINGSPACE_WEB_CONFIG_FILE", str(web))
        assert healthcheck.main() == 0
    finally:
        httpd.shutdown()
        httpd.server_close()
