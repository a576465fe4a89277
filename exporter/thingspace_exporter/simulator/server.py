"""HTTP plumbing: routes requests to the auth, listing and fault logic.

Stdlib ThreadingHTTPServer with daemon threads, so a hanging fault never
blocks stop(). Logs one line per request (no headers, no query, no body) only
when the simulator is verbose.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from . import listing
from .auth import gateway_fault
from .faults import KINDS, FaultContext
from .replies import Response, json_reply

if TYPE_CHECKING:
    from .sim import Simulator

TOKEN_PATH = "/api/ts/v1/oauth2/token"
LOGIN_PATH = "/api/m2m/v1/session/login"
LOGOUT_PATH = "/api/m2m/v1/session/logout"
DEVICES_PREFIX = "/api/fota/v3/devices/"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def route(path: str) -> tuple[str, str, str] | None:
    """(endpoint, allowed method, raw account segment) or None if unknown."""
    fixed = {TOKEN_PATH: "token", LOGIN_PATH: "login", LOGOUT_PATH: "logout"}
    if path in fixed:
        return fixed[path], "POST", ""
    if path.startswith(DEVICES_PREFIX):
        segment = path[len(DEVICES_PREFIX):]
        if segment and "/" not in segment:
            return "devices", "GET", segment
    return None


def handle(sim: Simulator, req: Request) -> Response | None:
    found = route(req.path)
    if found is None:
        return json_reply(*gateway_fault("900906"))
    endpoint, allowed, segment = found
    if req.method != allowed:
        reply = json_reply(405, {"errorCode": "METHOD_NOT_ALLOWED", "errorMessage": f"Use {allowed}"})
        reply.headers["Allow"] = allowed
        return reply
    sim._count(endpoint)
    if sim.latency:
        sim._sleep(sim.latency)
    normal = {"token": _token, "login": _login, "logout": _logout, "devices": _devices}[endpoint]

    kind = sim.faults.pick(endpoint) if sim.faults is not None else None
    if kind is None:
        return normal(sim, req, segment)
    faults = sim.faults
    ctx = FaultContext(
        normal=lambda: normal(sim, req, segment), page=lambda: normal(sim, req, segment, raw=True),
        cursor=(req.query.get("lastSeenDeviceId") or ["0"])[0],
        expire_token=sim.expire_token, expire_sessions=sim.expire_sessions,
        session_error=lambda k: json_reply(*sim._auth.session_error(k)),
        sleep=sim._sleep, slow_seconds=faults.slow_seconds, hang_seconds=faults.hang_seconds)
    return KINDS[kind](ctx)


def _token(sim, req, _segment, raw=False) -> Response:
    form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
    status, body = sim._auth.issue_token(req.header("Authorization"), form)
    if status != 200:
        sim._count("token_failed")
    return json_reply(status, body)


def _login(sim, req, _segment, raw=False) -> Response:
    problem = sim._auth.check_bearer(req.header("Authorization"))
    if problem:
        return json_reply(*problem)
    try:
        body = msgspec.json.decode(req.body)
    except msgspec.DecodeError:
        body = None
    status, reply = sim._auth.login(body)
    if status != 200:
        sim._count("login_failed")
    return json_reply(status, reply)


def _logout(sim, req, _segment, raw=False) -> Response:
    problem = sim._auth.check_bearer(req.header("Authorization"))
    if problem:
        return json_reply(*problem)
    return json_reply(*sim._auth.logout(req.header("VZ-M2M-Token")))


def _devices(sim, req, segment, raw=False) -> Response | dict:
    """The page; with raw=True the page dict itself (for page-shaping faults)."""
    problem = sim._auth.check_bearer(req.header("Authorization")) or \
        sim._auth.check_session(req.header("VZ-M2M-Token"))
    if problem:
        return json_reply(*problem)
    gen, times = sim._snapshot()
    try:
        account = unquote(segment)
        fleet = listing.find_account({} if account in sim.inactive else sim._fleets, account)
        body = listing.page(fleet, gen, times, (req.query.get("lastSeenDeviceId") or [None])[0],
                            (req.query.get("protocol") or [None])[0], sim.page_size)
    except listing.ApiError as err:
        return json_reply(err.status, err.body)
    return body if raw else json_reply(200, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a hanging fault

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout, shutdown) is ordinary here, not worth a traceback.
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def make_server(sim: Simulator, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in one segment: avoids Nagle/delayed-ACK stalls.
        wbufsize = -1
        disable_nagle_algorithm = True

        def _dispatch(self) -> None:
            started = time.monotonic()
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            req = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                          {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            reply = handle(sim, req)
            if reply is None:  # the "timeout" fault: never answer
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
            if sim.verbose:
                ms = (time.monotonic() - started) * 1000
                print(f"{self.command} {parts.path} {status} {ms:.1f}ms", file=sys.stderr, flush=True)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

        def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
            pass  # our own line above; the default would also log to stderr

    return _Server((host, port), Handler)
