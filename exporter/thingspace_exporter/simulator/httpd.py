"""HTTP plumbing: a stdlib threading server that turns each request into a Call, hands it to a
``handle`` function and writes the Response back. It knows no endpoint; the simulator's API answers.

Daemon threads, so a hanging handler never blocks shutdown. One log line per request (method,
path, status, time: no headers, no query, no body) goes to the ``log`` function given.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .replies import Call, Response

# None: never answer (the "timeout" fault), the connection is dropped.
Handle = Callable[[Call], Response | None]


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # closing must not wait for a hanging handler

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout, shutdown) is ordinary here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def make_server(host: str, port: int, handle: Handle, log: Callable[[str], None]) -> ThreadingHTTPServer:
    """A bound server (port 0: any free one); the caller runs its serve_forever."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in one segment: avoids Nagle/delayed-ACK stalls.
        wbufsize = -1
        disable_nagle_algorithm = True

        def _dispatch(self) -> None:
            started = time.monotonic()
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            call = Call(
                self.command,
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            reply = handle(call)
            status: int | str
            if reply is None:
                self.close_connection = True
                status = "-"
            else:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)
                status = reply.status
            log(f"{self.command} {parts.path} {status} {(time.monotonic() - started) * 1000:.1f}ms")

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

        def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
            pass  # our own line above; the default would also log to stderr

    return _ThreadingServer((host, port), Handler)
