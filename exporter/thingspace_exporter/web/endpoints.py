"""HTTP endpoints: /metrics, the status page, and health and readiness, as a WSGI app over the
read-only view of the exporter (view.View), served by http_server.Server."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterable

from . import status_page
from .exposition import body
from .http_server import Limits, Server
from .view import View

# authorize(environ) -> None to serve the request, or (status, extra headers) to refuse it, e.g.
# ("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="thingspace-exporter"')]). It runs on a
# worker thread; a slow check (a bcrypt hash) is done before, by the server's `defer` hook.
Authorize = Callable[[dict], "tuple[str, list[tuple[str, str]]] | None"]
PROBES = frozenset({"/-/healthy", "/-/ready"})


def is_probe(environ: dict) -> bool:
    """Answered at once on the server's selector thread: cheap, and never behind other work."""
    return environ.get("PATH_INFO") in PROBES


def make_app(
    view: View,
    authorize: Authorize | None = None,
    extra_headers: Callable[[], Iterable[tuple[str, str]]] | None = None,
) -> Callable:
    """The WSGI app over a read-only view of the exporter. The server passes only GET and HEAD
    requests without a body; every request goes through `authorize`, and every response carries
    `extra_headers()` (a web configuration's security headers)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if extra_headers is not None:
            extra, plain_start = list(extra_headers()), start_response
            start_response = lambda status, hdrs, *exc: plain_start(status, [*hdrs, *extra], *exc)  # noqa: E731
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if authorize is not None and (refusal := authorize(environ)) is not None:
            status, headers = refusal
            return _send(start_response, status, status.encode()[4:] + b"\n", headers=headers)
        if path == "/metrics":
            accept, encoding = environ.get("HTTP_ACCEPT", ""), environ.get("HTTP_ACCEPT_ENCODING", "")
            data, headers = body(view.exposition(), view.registry, accept, encoding)
            start_response("200 OK", [*headers, ("Content-Length", str(len(data)))])
            return [b"" if method == "HEAD" else data]
        if path == "/":
            return _send(start_response, "200 OK", status_page.render(view.status()), "text/html; charset=utf-8")
        if path == "/-/healthy":
            ok, why = view.healthy()
            return _send(start_response, "200 OK" if ok else "503 Service Unavailable", why.encode() + b"\n")
        if path == "/-/ready":
            if view.ready():
                return _send(start_response, "200 OK", b"ready\n")
            return _send(start_response, "503 Service Unavailable", b"first collection cycle not finished\n")
        return _send(start_response, "404 Not Found", b"not found\n")

    return app


def _send(
    start_response: Callable,
    status: str,
    data: bytes,
    content_type: str = "text/plain; charset=utf-8",
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))), *headers])
    return [data]


def bind(
    host: str,
    port: int,
    app: Callable,
    limits: Limits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    on_error: Callable[[str], None] | None = None,
    defer: Callable[[dict, Callable[[], None]], bool] | None = None,
) -> Server:
    """Bind now (so a port in use fails at start-up); serve later with serve()."""
    return Server(host, port, app, limits or Limits(), ssl_context, on_error, inline=is_probe, defer=defer)


def serve(server: Server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread
