"""A caching replay front for the simulator, so benchmarks measure the exporter, not the simulator.

The simulator builds every page in Python (~45 ms of CPU per 1000-device page, under one GIL),
which would add ~45 % to a 100 ms-latency cycle and serialise parallel workers. This process
walks each listed account once through the simulator (no latency), keeps the page bodies, and
serves them byte-for-byte with `--latency` seconds added to every request. Anything not cached
(OAuth token, M2M login/logout, an unknown cursor) is forwarded to the simulator, latency included.
Cached pages skip the simulator's token checks: this is a benchmark fixture, not a test double.

Usage: python bench/replay.py UPSTREAM --latency S --account NAME [--account NAME ...] [--protocol P]
Prints "replay listening on http://127.0.0.1:PORT" on stderr once warm.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import msgspec
import requests

DEVICES = "/api/fota/v3/devices/"
CREDENTIALS = ("demo-client", "demo-secret", "demo-user", "demo-password")


def logged_in(upstream: str) -> requests.Session:
    """A session carrying the simulator's demo token and M2M session."""
    client_id, client_secret, username, password = CREDENTIALS
    s = requests.Session()
    token = s.post(
        upstream + "/api/ts/v1/oauth2/token",
        auth=(client_id, client_secret),
        data={"grant_type": "client_credentials"},
        timeout=60,
    ).json()["access_token"]
    s.headers["Authorization"] = f"Bearer {token}"
    s.headers["VZ-M2M-Token"] = s.post(
        upstream + "/api/m2m/v1/session/login", timeout=60, json={"username": username, "password": password}
    ).json()["sessionToken"]
    return s


def pages(s: requests.Session, upstream: str, account: str, protocol: str = "") -> Iterator[tuple[str, bytes, Any]]:
    """The account's device list page by page: (the cursor asked with, the body, the decoded page)."""
    cursor = "0"
    while True:
        params = {"lastSeenDeviceId": cursor}
        if protocol:
            params["protocol"] = protocol
        r = s.get(upstream + DEVICES + quote(account, safe=""), params=params, timeout=60)
        r.raise_for_status()
        page = msgspec.json.decode(r.content)
        yield cursor, r.content, page
        if not page.get("hasMoreData"):
            return
        cursor = str(page["lastSeenDeviceId"])


def warm(upstream: str, accounts: list[str], protocol: str) -> dict[tuple[str, str, str], bytes]:
    s = logged_in(upstream)
    cache: dict[tuple[str, str, str], bytes] = {}
    for account in accounts:
        for cursor, body, _ in pages(s, upstream, account, protocol):
            cache[(account, cursor, protocol)] = body
    return cache


def make_handler(upstream: str, latency: float, cache: dict):
    up = urlsplit(upstream)
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else Nagle + delayed ACK stall every response on loopback

        def log_message(self, format, *args):  # noqa: A002
            pass

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            # status line, headers and body in one write
            head = (
                f"HTTP/1.1 {status} {http.client.responses.get(status, '')}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            self.wfile.write(head.encode("latin-1") + body)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else None
            if latency:
                time.sleep(latency)
            parts = urlsplit(self.path)
            if self.command == "GET" and parts.path.startswith(DEVICES):
                q = parse_qs(parts.query)
                key = (
                    unquote(parts.path[len(DEVICES) :]),
                    (q.get("lastSeenDeviceId") or ["0"])[0],
                    (q.get("protocol") or [""])[0],
                )
                body = cache.get(key)
                if body is not None:
                    return self._reply(200, body)
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("host", "connection", "accept-encoding", "content-length")
            }
            try:
                conn.request(self.command, self.path, body=data, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                local.conn = None
                conn.close()
                raise
            self._reply(resp.status, body, resp.getheader("Content-Type") or "application/json")

        do_GET = do_POST = _handle

    return Handler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("upstream")
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--account", action="append", default=[])
    p.add_argument("--protocol", default="")
    args = p.parse_args(argv)
    upstream = args.upstream.rstrip("/")
    cache = warm(upstream, args.account, args.protocol)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(upstream, args.latency, cache))
    server.daemon_threads = True
    print(
        f"replay listening on http://127.0.0.1:{server.server_port} ({len(cache)} pages)", file=sys.stderr, flush=True
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
