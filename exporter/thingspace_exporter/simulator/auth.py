"""OAuth tokens, M2M sessions and login lockout (thread-safe, clock injectable).

Returns error *descriptions* (status, body); the simulator's API only encodes them.
Tokens come from ``secrets`` and are never logged.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable

LOCKOUT_AFTER = 5

Reply = tuple[int, dict]


def gateway_fault(code: str) -> Reply:
    """The API gateway's fault body (WSO2 style) for bearer-token problems."""
    if code == "900902":
        return 401, {
            "fault": {
                "code": "900902",
                "message": "Missing Credentials",
                "description": "Required OAuth credentials not provided. Make sure your API "
                "invocation call has a header: 'Authorization: Bearer ACCESS_TOKEN'",
            }
        }
    if code == "900906":
        return 400, {
            "fault": {
                "code": "900906",
                "message": "No matching resource found in the API for the given request",
                "description": "Access failure for API: /api, version: v1. Check the API "
                "documentation and add a proper REST resource path to the invocation URL",
            }
        }
    return 401, {
        "fault": {
            "code": "900901",
            "message": "Invalid Credentials",
            "description": "Access failure for API: /api, version: v1 status: (900901) - Invalid "
            "Credentials. Make sure you have provided the correct security credentials",
        }
    }


SESSION_ERRORS = {
    "format": ("UnifiedWebService.REQUEST_FAILED.SessionToken.Format", "Session token is missing or malformed"),
    "invalid": ("UnifiedWebService.INPUT_INVALID.SessionToken.Invalid", "Session token is invalid"),
    "expired": ("UnifiedWebService.REQUEST_FAILED.SessionToken.Expired", "Session token has expired"),
}
LOGIN_FAILED = {"errorCode": "UnifiedWebService.AUTHENTICATION_FAILED", "errorMessage": "Invalid username or password"}
LOGIN_LOCKED = {
    "errorCode": "UnifiedWebService.ACCOUNT_LOCKED",
    "errorMessage": "User account is locked after repeated failed logins; contact support",
}


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


class Gatekeeper:
    """The simulated OAuth server and M2M session service: issues and checks both kinds of token,
    and locks a user out after repeated failed logins."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        token_ttl: float = 3600.0,
        session_idle: float = 1200.0,
        session_error_status: int = 400,
        clock: Callable[[], float] = time.time,
    ):
        self._client = (client_id, client_secret)
        self._user = (username, password)
        self.token_ttl = token_ttl
        self.session_idle = session_idle
        self.session_error_status = session_error_status
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expiry = 0.0
        self._sessions: dict[str, float] = {}  # token -> last use; -inf once expired
        self._failures: dict[str, int] = {}

    # --- OAuth -------------------------------------------------------------
    def issue_token(self, authorization: str | None, form: dict[str, list[str]]) -> Reply:
        if not self._client_ok(authorization):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        grant = (form.get("grant_type") or [""])[0]
        if not grant:
            return 400, {"error": "invalid_request", "error_description": "Missing grant_type parameter value"}
        if grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type value"}
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._token_expiry:
                self._token = secrets.token_urlsafe(24)
                self._token_expiry = now + self.token_ttl
            # Same token inside its lifetime, so expires_in shrinks.
            return 200, {
                "access_token": self._token,
                "token_type": "Bearer",
                "expires_in": max(0, int(self._token_expiry - now)),
                "scope": "discovery:read_profile service_profile:read",
            }

    def _client_ok(self, authorization: str | None) -> bool:
        if not authorization or not authorization.lower().startswith("basic "):
            return False
        try:
            raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except ValueError:
            return False
        given = tuple(raw.split(":", 1))
        return len(given) == 2 and all(_same(a, b) for a, b in zip(given, self._client, strict=True))

    def check_bearer(self, authorization: str | None) -> Reply | None:
        """None if the bearer token is valid, else the gateway fault."""
        if not authorization or not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
            return gateway_fault("900902")
        with self._lock:
            ok = (
                self._token is not None
                and self._clock() < self._token_expiry
                and _same(authorization[7:].strip(), self._token)
            )
        return None if ok else gateway_fault("900901")

    def expire_token(self) -> None:
        with self._lock:
            self._token = None

    # --- M2M sessions ----------------------------------------------------
    def login(self, body) -> Reply:
        user = body.get("username") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(user, str) or not isinstance(password, str):
            return 400, {
                "errorCode": "UnifiedWebService.INPUT_INVALID",
                "errorMessage": "username and password are required",
            }
        with self._lock:
            if self._failures.get(user, 0) >= LOCKOUT_AFTER:
                self._failures[user] += 1
                return 401, LOGIN_LOCKED
            if (user, password) != self._user:
                self._failures[user] = self._failures.get(user, 0) + 1
                return 401, LOGIN_FAILED
            self._failures.pop(user, None)
            token = secrets.token_urlsafe(24)
            self._sessions[token] = self._clock()
            return 200, {"sessionToken": token}

    @property
    def locked(self) -> bool:
        with self._lock:
            return self._failures.get(self._user[0], 0) >= LOCKOUT_AFTER

    def unlock(self) -> None:
        with self._lock:
            self._failures.clear()

    def check_session(self, token: str | None) -> Reply | None:
        """None (and the idle timer refreshed) if the session is usable."""
        if not token or not token.strip():
            return self.session_error("format")
        with self._lock:
            last = self._sessions.get(token.strip())
            if last is None:
                return self.session_error("invalid")
            now = self._clock()
            if now - last > self.session_idle:
                self._sessions[token.strip()] = float("-inf")
                return self.session_error("expired")
            self._sessions[token.strip()] = now
        return None

    def logout(self, token: str | None) -> Reply:
        problem = self.check_session(token)
        if problem or token is None:  # check_session refuses a missing token
            return problem or self.session_error("format")
        with self._lock:
            self._sessions.pop(token.strip(), None)
        return 200, {"sessionToken": token.strip()}

    def session_error(self, kind: str) -> Reply:
        code, message = SESSION_ERRORS[kind]
        return self.session_error_status, {"errorCode": code, "errorMessage": message}

    def expire_sessions(self) -> None:
        with self._lock:
            for token in self._sessions:
                self._sessions[token] = float("-inf")
