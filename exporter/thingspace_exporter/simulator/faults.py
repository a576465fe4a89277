"""Fault injection: a thread-safe plan (scheduled and random faults) and one
function per fault kind that turns a request context into a reply.

Random ``rates`` apply only to the endpoints in ``Faults.endpoints``
("devices" by default) so a demo never trips the login lockout by accident;
``schedule`` can target any endpoint ("token", "login", "logout", "devices",
"firmware", "subscriptions", "campaigns", "campaign_devices").

The page-shaping kinds (stuck_cursor, empty_page, invalid_cursor) act on the
paged endpoints (``PAGED``: their cursor and list keys); on firmware and
subscriptions, which have no pages, scheduling one is refused and random rates
skip them.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from .auth import gateway_fault
from .replies import Response, json_reply


@dataclass
class FaultContext:
    """What a fault needs from the request being answered."""

    normal: Callable[[], Response]  # the reply without any fault
    page: Callable[[], dict | Response]  # the page dict, or the error reply
    cursor: str = "0"
    cursor_key: str = "lastSeenDeviceId"
    list_key: str = "deviceList"
    expire_token: Callable[[], None] = lambda: None
    expire_sessions: Callable[[], None] = lambda: None
    session_error: Callable[[str], Response] = lambda kind: Response(400)
    sleep: Callable[[float], None] = lambda seconds: None
    slow_seconds: float = 0.5
    hang_seconds: float = 30.0


def rate_limit(ctx: FaultContext) -> Response:
    return throttled(1)


def throttled(retry_after: int) -> Response:
    """The gateway's 429 (also what the simulator's hidden rate limit answers)."""
    reply = json_reply(
        429,
        {
            "fault": {
                "code": "900802",
                "message": "Message throttled out",
                "description": "You have exceeded your quota",
            }
        },
    )
    reply.headers["Retry-After"] = str(retry_after)
    return reply


def server_error(ctx: FaultContext) -> Response:
    return json_reply(500, {"errorCode": "INTERNAL_ERROR", "errorMessage": "Internal Server Error"})


def bad_gateway(ctx: FaultContext) -> Response:
    return json_reply(
        502,
        {"fault": {"code": "101503", "message": "Runtime Error", "description": "Error connecting to the back end"}},
    )


def unavailable(ctx: FaultContext) -> Response:
    return json_reply(503, {"errorCode": "INTERNAL_ERROR", "errorMessage": "Service Unavailable"})


def gateway_timeout(ctx: FaultContext) -> Response:
    return json_reply(504, {"fault": {"code": "101504", "message": "Runtime Error", "description": "Send timeout"}})


def html_503(ctx: FaultContext) -> Response:
    body = (
        b"<html><head><title>503 Service Temporarily Unavailable</title></head>"
        b"<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>\n"
    )
    return Response(503, body, content_type="text/html")


def slow(ctx: FaultContext) -> Response:
    ctx.sleep(ctx.slow_seconds)
    return ctx.normal()


def timeout(ctx: FaultContext) -> None:
    """Hang without answering; None tells the server to drop the connection."""
    ctx.sleep(ctx.hang_seconds)
    return None


def malformed_json(ctx: FaultContext) -> Response:
    return Response(200, b"{'accountName': 'unknown', hasMoreData: True, deviceList: [}")


def truncated_json(ctx: FaultContext) -> Response:
    reply = _page_reply(ctx, lambda page: page)
    if reply.status == 200:
        reply.body = reply.body[: len(reply.body) // 2]
    return reply


def token_expiry(ctx: FaultContext) -> Response:
    ctx.expire_token()
    return json_reply(*gateway_fault("900901"))


def session_expiry(ctx: FaultContext) -> Response:
    ctx.expire_sessions()
    return ctx.session_error("expired")


def session_invalid(ctx: FaultContext) -> Response:
    return ctx.session_error("invalid")


def session_format(ctx: FaultContext) -> Response:
    return ctx.session_error("format")


def stuck_cursor(ctx: FaultContext) -> Response:
    def stick(page):
        return {**page, "hasMoreData": True, ctx.cursor_key: ctx.cursor}

    return _page_reply(ctx, stick)


def empty_page(ctx: FaultContext) -> Response:
    def empty(page):
        cursor = page[ctx.cursor_key] if page["hasMoreData"] else ctx.cursor
        return {**page, "hasMoreData": True, ctx.cursor_key: cursor, ctx.list_key: []}

    return _page_reply(ctx, empty)


def invalid_cursor(ctx: FaultContext) -> Response:
    name = ctx.cursor_key[0].upper() + ctx.cursor_key[1:]  # "LastSeenDeviceId", "LastSeenCampaignId"
    return json_reply(400, {"errorCode": "INVALID_PARAMETER", "errorMessage": f"{name} Not Valid"})


def _page_reply(ctx: FaultContext, change: Callable[[dict], dict]) -> Response:
    """Apply a change to a successful page; errors (e.g. auth) pass unchanged."""
    page = ctx.page()
    if isinstance(page, Response):
        return page
    return Response(200, msgspec.json.encode(change(page)))


KINDS: dict[str, Callable[[FaultContext], Response | None]] = {
    f.__name__: f
    for f in (
        rate_limit,
        server_error,
        bad_gateway,
        unavailable,
        gateway_timeout,
        html_503,
        slow,
        timeout,
        malformed_json,
        truncated_json,
        token_expiry,
        session_expiry,
        session_invalid,
        session_format,
        stuck_cursor,
        empty_page,
        invalid_cursor,
    )
}


# endpoint -> (cursor key, list key) of its pages
PAGED = {
    "devices": ("lastSeenDeviceId", "deviceList"),
    "campaigns": ("lastSeenCampaignId", "campaignList"),
    "campaign_devices": ("lastSeenDeviceId", "deviceList"),
}
ENDPOINTS = ("token", "login", "logout", "devices", "firmware", "subscriptions", "campaigns", "campaign_devices")
PAGE_KINDS = frozenset({"stuck_cursor", "empty_page", "invalid_cursor"})
UNPAGED = frozenset({"firmware", "subscriptions"})  # FOTA endpoints without pages


@dataclass
class _Scheduled:
    kind: str
    endpoint: str
    skip: int
    remaining: int


class Faults:
    """Which requests get which fault. Tests may change it while the server runs."""

    def __init__(self, rates: dict[str, float] | None = None, seed: int = 0, endpoints: tuple[str, ...] = ("devices",)):
        self.rates: dict[str, float] = dict(rates or {})
        for kind in self.rates:
            _check(kind)
        self.endpoints = endpoints
        self.injected: Counter = Counter()
        self.slow_seconds = 0.5
        self.hang_seconds = 30.0
        self._rng = random.Random(seed)
        self._plan: list[_Scheduled] = []
        self._lock = threading.Lock()

    def schedule(self, kind: str, count: int = 1, endpoint: str = "devices", after: int = 0) -> None:
        _check(kind)
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)}")
        if kind in PAGE_KINDS and endpoint in UNPAGED:
            raise ValueError(f"{kind} shapes pages; {endpoint} has none")
        with self._lock:
            self._plan.append(_Scheduled(kind, endpoint, after, count))

    def pick(self, endpoint: str) -> str | None:
        """The fault for this request (counted as injected), or None."""
        with self._lock:
            chosen = None
            for item in self._plan:
                if item.endpoint != endpoint:
                    continue
                if item.skip > 0:
                    item.skip -= 1
                elif chosen is None and item.remaining > 0:
                    item.remaining -= 1
                    chosen = item.kind
            self._plan = [item for item in self._plan if item.remaining > 0]
            if chosen is None and endpoint in self.endpoints:
                for kind, rate in sorted(self.rates.items()):
                    if self._rng.random() < rate and not (kind in PAGE_KINDS and endpoint in UNPAGED):
                        chosen = _check(kind)
                        break
            if chosen is not None:
                self.injected[chosen] += 1
            return chosen


def _check(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return kind
