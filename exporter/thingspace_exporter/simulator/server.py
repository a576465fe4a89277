"""HTTP plumbing: routes requests to the auth, listing, firmware, licence, campaign and fault logic.

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

from . import firmware, listing
from .auth import gateway_fault
from .faults import KINDS, PAGED, FaultContext, throttled
from .replies import Response, json_reply

if TYPE_CHECKING:
    from .sim import Simulator

TOKEN_PATH = "/api/ts/v1/oauth2/token"
LOGIN_PATH = "/api/m2m/v1/session/login"
LOGOUT_PATH = "/api/m2m/v1/session/logout"
DEVICES_PREFIX = "/api/fota/v3/devices/"
FIRMWARE_PREFIX = "/api/fota/v3/firmware/"
SUBSCRIPTIONS_PREFIX = "/api/fota/v3/subscriptions/"
REPORTS_PREFIX = "/api/fota/v3/reports/"


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
    """(endpoint, allowed method, raw account segment) or None if unknown.

    For ``campaign_devices`` the segment is "ACCOUNT/CAMPAIGN", both still
    percent-encoded (so the slash between them is the only one).
    """
    fixed = {TOKEN_PATH: "token", LOGIN_PATH: "login", LOGOUT_PATH: "logout"}
    if path in fixed:
        return fixed[path], "POST", ""
    if path.startswith(DEVICES_PREFIX):
        segment = path[len(DEVICES_PREFIX) :]
        if segment and "/" not in segment:
            return "devices", "GET", segment
    for prefix, endpoint in ((FIRMWARE_PREFIX, "firmware"), (SUBSCRIPTIONS_PREFIX, "subscriptions")):
        segment = path[len(prefix) :] if path.startswith(prefix) else ""
        if segment and "/" not in segment:
            return endpoint, "GET", segment
    parts = path[len(REPORTS_PREFIX) :].split("/") if path.startswith(REPORTS_PREFIX) else []
    if len(parts) == 3 and parts[0] and parts[1:] == ["firmware", "campaigns"]:
        return "campaigns", "GET", parts[0]
    if len(parts) == 4 and parts[0] and parts[1] == "campaigns" and parts[2] and parts[3] == "devices":
        return "campaign_devices", "GET", f"{parts[0]}/{parts[2]}"
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
    if sim.throttle is not None and (retry_after := sim.throttle.admit()) is not None:
        sim._count("throttled")
        return throttled(retry_after)
    if sim.latency:
        sim._sleep(sim.latency)
    normal = {
        "token": _token,
        "login": _login,
        "logout": _logout,
        "devices": _devices,
        "firmware": _firmware,
        "subscriptions": _subscriptions,
        "campaigns": _campaigns,
        "campaign_devices": _campaign_devices,
    }[endpoint]

    kind = sim.faults.pick(endpoint) if sim.faults is not None else None
    if kind is None:
        return normal(sim, req, segment)
    faults = sim.faults
    cursor_key, list_key = PAGED.get(endpoint, PAGED["devices"])
    ctx = FaultContext(
        normal=lambda: normal(sim, req, segment),
        page=lambda: normal(sim, req, segment, raw=True),
        cursor=(req.query.get(cursor_key) or ["0"])[0],
        cursor_key=cursor_key,
        list_key=list_key,
        expire_token=sim.expire_token,
        expire_sessions=sim.expire_sessions,
        session_error=lambda k: json_reply(*sim._auth.session_error(k)),
        sleep=sim._sleep,
        slow_seconds=faults.slow_seconds,
        hang_seconds=faults.hang_seconds,
    )
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
    problem = sim._auth.check_bearer(req.header("Authorization")) or sim._auth.check_session(req.header("VZ-M2M-Token"))
    if problem:
        return json_reply(*problem)
    gen, times = sim._snapshot()
    try:
        account = unquote(segment)
        fleet = listing.find_account({} if account in sim.inactive else sim._fleets, account)
        body = listing.page_body(
            fleet,
            gen,
            times,
            (req.query.get("lastSeenDeviceId") or [None])[0],
            (req.query.get("protocol") or [None])[0],
            sim.page_size,
        )
    except listing.ApiError as err:
        return json_reply(err.status, err.body)
    return msgspec.json.decode(body) if raw else Response(200, body)


def _checked(sim, req, account_segment: str):
    """(account, fleet, generation, generation times) once both tokens and the account pass."""
    problem = sim._auth.check_bearer(req.header("Authorization")) or sim._auth.check_session(req.header("VZ-M2M-Token"))
    if problem:
        return json_reply(*problem)
    account = unquote(account_segment)
    try:
        fleet = listing.find_account({} if account in sim.inactive else sim._fleets, account)
    except listing.ApiError as err:
        return json_reply(err.status, err.body)
    gen, times = sim._snapshot()
    return account, fleet, gen, times


def _query(req, name: str) -> str | None:
    return (req.query.get(name) or [None])[0]


def _firmware(sim, req, segment, raw=False) -> Response | list:
    checked = _checked(sim, req, segment)
    if isinstance(checked, Response):
        return checked
    account = checked[0]
    body = [p.record() for p in firmware.select(sim._firmware[account], _query(req, "protocol"))]
    return body if raw else json_reply(200, body)


def _subscriptions(sim, req, segment, raw=False) -> Response | dict:
    checked = _checked(sim, req, segment)
    if isinstance(checked, Response):
        return checked
    account, _, gen, times = checked
    body = sim._licenses[account].body(gen, times)
    return body if raw else json_reply(200, body)


def _campaigns(sim, req, segment, raw=False) -> Response | dict:
    checked = _checked(sim, req, segment)
    if isinstance(checked, Response):
        return checked
    try:
        body = sim._campaigns[checked[0]].campaign_page(
            _query(req, "campaignStatus"), _query(req, "lastSeenCampaignId"), sim.campaign_page_size
        )
    except listing.ApiError as err:
        return json_reply(err.status, err.body)
    return body if raw else json_reply(200, body)


def _campaign_devices(sim, req, segment, raw=False) -> Response | dict:
    account_segment, _, campaign_segment = segment.partition("/")
    checked = _checked(sim, req, account_segment)
    if isinstance(checked, Response):
        return checked
    account, _, gen, times = checked
    try:
        body = sim._campaigns[account].device_page(
            unquote(campaign_segment), _query(req, "lastSeenDeviceId"), gen, times, sim.campaign_device_page_size
        )
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
            req = Request(
                self.command,
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
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
