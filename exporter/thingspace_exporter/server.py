"""HTTP server: /metrics, a landing page, and health and readiness endpoints."""

from __future__ import annotations

import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import __version__
from .exposition import body

LANDING = f"""<!doctype html>
<html><head><title>ThingSpace exporter</title></head>
<body><h1>ThingSpace exporter {__version__}</h1>
<p>Device metrics are collected from ThingSpace in the background; a scrape never calls the API.</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="-/healthy">/-/healthy</a></li>
<li><a href="-/ready">/-/ready</a></li></ul></body></html>
""".encode()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # access logs would drown the summaries
        pass


def make_app(exporter: Any) -> Callable:
    """`exporter` offers .store, .metrics.registry, .collection (healthy(), ready)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _send(start_response, "405 Method Not Allowed", b"method not allowed\n")
        if path == "/metrics":
            data, headers = body(exporter.store.derived, exporter.metrics.registry,
                                 environ.get("HTTP_ACCEPT", ""), environ.get("HTTP_ACCEPT_ENCODING", ""))
            start_response("200 OK", [*headers, ("Content-Length", str(len(data)))])
            return [b"" if method == "HEAD" else data]
        if path == "/":
            return _send(start_response, "200 OK", LANDING, "text/html; charset=utf-8")
        if path == "/-/healthy":
            ok, why = exporter.collection.healthy()
            return _send(start_response, "200 OK" if ok else "503 Service Unavailable", why.encode() + b"\n")
        if path == "/-/ready":
            if exporter.collection.ready.is_set():
                return _send(start_response, "200 OK", b"ready\n")
            return _send(start_response, "503 Service Unavailable", b"first collection cycle not finished\n")
        return _send(start_response, "404 Not Found", b"not found\n")

    return app


def _send(start_response: Callable, status: str, data: bytes,
          content_type: str = "text/plain; charset=utf-8") -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


def bind(host: str, port: int, app: Callable) -> WSGIServer:
    """Bind now (so a port in use fails at start-up); serve later with serve()."""
    server_class = _Server6 if ":" in host else _Server
    return make_server(host or "0.0.0.0", port, app, server_class, _QuietHandler)


def serve(server: WSGIServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="http", daemon=True)
    thread.start()
    return thread
