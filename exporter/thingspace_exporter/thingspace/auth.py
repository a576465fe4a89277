"""The two ThingSpace credentials: an OAuth2 client-credentials token and an M2M session.

Both are cached and shared by every caller; one lock makes concurrent callers share one refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec

from ..logs import redactor
from ..metrics import ExporterMetrics
from .errors import ApiError
from .login_failures import LoginFailures
from .transport import Transport

Reload = Callable[[], tuple[str, str, str, str]]  # client id, client secret, user name, password

TOKEN_PATH = "/api/ts/v1/oauth2/token"
LOGIN_PATH = "/api/m2m/v1/session/login"
LOGOUT_PATH = "/api/m2m/v1/session/logout"
TOKEN_LIFETIME = 3600.0  # when the server omits expires_in: one hour from first issue
SESSION_IDLE = 1200.0  # the M2M session expires after 20 idle minutes
SESSION_MARGIN = 120.0
CREDENTIAL_STATUSES = (400, 401, 403)
FIRST_REJECTION_PAUSE = 30.0
# ThingSpace locks the M2M user after 5 failed logins in a row: every replica together may fail 4
# times, and each needs one try, so at most 4 replicas share a user.
LOGIN_FAILURES_ALLOWED = 4


class CredentialGuard:
    """Stops a rejected credential from being retried in a loop.

    At most `limit` rejections in a row, then one try per backoff (doubling up to `cap`);
    with `hard_stop`, no try at all after that many (ThingSpace locks the login after 5).
    """

    def __init__(
        self,
        kind: str,
        hint: str,
        metrics: ExporterMetrics,
        log: Any,
        clock: Callable[[], float],
        limit: int = 2,
        base: float = 300.0,
        cap: float = 3600.0,
        hard_stop: int | None = None,
        store: LoginFailures | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.kind, self.hint, self.metrics, self.log, self.clock = kind, hint, metrics, log, clock
        self.limit = limit if hard_stop is None else min(limit, hard_stop)
        self.base, self.cap, self.hard_stop = base, cap, hard_stop
        self.store, self.wall = store, wall
        self.failures = 0
        self.retry_at = 0.0
        if store is not None:  # rejections before a restart still count towards the lockout
            self.failures, retry_wall = store.load()
            self.retry_at = clock() + max(0.0, retry_wall - wall())

    def check(self) -> None:
        if 0 < self.failures < self.limit and self.clock() < self.retry_at:
            raise ApiError(
                "auth_backoff", f"{self.kind} was just rejected; trying again next cycle ({self.hint})", self.kind
            )
        if self.hard_stop is not None and self.failures >= self.hard_stop:
            until = "the count is reset with --reset-login-failures" if self.store else "restart"
            raise ApiError(
                "auth_backoff",
                f"{self.kind} rejected {self.failures} times in a row; not trying again until {until} ({self.hint})",
                self.kind,
            )
        wait = self.retry_at - self.clock()
        self.metrics.auth_backoff.labels(self.kind).set(max(0.0, wait) if self.failures >= self.limit else 0)
        if self.failures >= self.limit and wait > 0:
            raise ApiError(
                "auth_backoff",
                f"{self.kind} rejected {self.failures} times in a row; next try in {wait:.0f}s ({self.hint})",
                self.kind,
            )

    def failed(self, exc: ApiError) -> None:
        exc.reason = "credentials_rejected"
        self.failures += 1
        self.metrics.auth_rejections.labels(self.kind).inc()
        # Even the first rejection holds off the other accounts of the same cycle.
        self.retry_at = self.clock() + FIRST_REJECTION_PAUSE
        if self.failures >= self.limit:
            delay = min(self.cap, self.base * 2 ** (self.failures - self.limit))
            self.retry_at = self.clock() + delay
            self.metrics.auth_backoff.labels(self.kind).set(delay)
            self.log.error(
                "credentials_rejected",
                kind=self.kind,
                failures=self.failures,
                backoff_seconds=delay,
                fix=self.hint,
                error=exc.describe(),
            )
        else:
            self.log.warning(
                "credentials_rejected", kind=self.kind, failures=self.failures, fix=self.hint, error=exc.describe()
            )
        self._save()

    def succeeded(self) -> None:
        had = self.failures
        self.failures = 0
        self.metrics.auth_backoff.labels(self.kind).set(0)
        if had:
            self._save()

    def release(self) -> None:
        """New credentials: the next try need not wait out the back-off (the hard stop still holds)."""
        self.retry_at = self.clock()
        self._save()

    def _save(self) -> None:
        if self.store is None:
            return
        self.store.save(self.failures, self.wall() + max(0.0, self.retry_at - self.clock()))  # logs a failure


class Auth:
    def __init__(
        self,
        transport: Transport,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        metrics: ExporterMetrics,
        log: Any,
        clock: Callable[[], float] = time.monotonic,
        login_budget: int = LOGIN_FAILURES_ALLOWED,
        login_store: LoginFailures | None = None,
        reload: Reload | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self._client = (client_id, client_secret)
        self._login = {"username": username, "password": password}
        self.clock = clock
        self.log = log
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_first_seen: dict[str, float] = {}
        self._session: str | None = None
        self._session_used = 0.0
        self._session_expires = float("inf")
        self.oauth_guard = CredentialGuard(
            "oauth", "check THINGSPACE_CLIENT_ID and THINGSPACE_CLIENT_SECRET", metrics, log, clock
        )
        self.login_guard = CredentialGuard(
            "login",
            "check THINGSPACE_USERNAME and THINGSPACE_PASSWORD; 5 failures lock the account",
            metrics,
            log,
            clock,
            hard_stop=login_budget,
            store=login_store,
            wall=wall,
        )
        self._reload = reload
        redactor.add(client_secret, password)

    def headers(self, deadline: float | None = None) -> dict[str, str]:
        """Both credentials, obtaining or refreshing them as needed."""
        with self._lock:
            now = self.clock()
            if self._token is None or now >= self._token_expires:
                self._fetch_token(deadline)
            if (
                self._session is None
                or now >= self._session_expires
                or now - self._session_used >= SESSION_IDLE - SESSION_MARGIN
            ):
                self._do_login(deadline)
            return {"Authorization": f"Bearer {self._token}", "VZ-M2M-Token": self._session or ""}

    def touch(self) -> None:
        """A successful call keeps the session alive for another idle period."""
        self._session_used = self.clock()

    def rejected(self, exc: ApiError, headers: dict[str, str]) -> bool:
        """Drop the credential `exc` says is bad (if nobody has replaced it yet); True if retryable."""
        with self._lock:
            if exc.reason == "token_rejected":
                if headers.get("Authorization") == f"Bearer {self._token}":
                    self._token = None
                return True
            if exc.reason == "session_rejected":
                if headers.get("VZ-M2M-Token") == self._session:
                    self._session = None
                return True
        return False

    def logout(self, timeout: float = 1.5) -> None:
        with self._lock:
            token, session, self._session = self._token, self._session, None
        if not token or not session:
            return
        headers = {"Authorization": f"Bearer {token}", "VZ-M2M-Token": session}
        try:
            self.transport.request(
                "logout", "POST", LOGOUT_PATH, headers=headers, timeout=timeout, during_shutdown=True
            )
            self.log.info("session_logged_out")
        except Exception as exc:  # shutting down: report and go on
            self.log.warning("logout_failed", error=str(exc) or type(exc).__name__)

    def _fetch_token(self, deadline: float | None) -> None:
        self._reload_credentials(self.oauth_guard)
        token, doc = self._obtain(
            "token",
            TOKEN_PATH,
            "access_token",
            self.oauth_guard,
            deadline,
            auth=self._client,
            data={"grant_type": "client_credentials"},
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        now = self.clock()
        first = self._token_first_seen.setdefault(token, now)
        self._token_first_seen = {token: first}
        lifetime = _seconds(doc.get("expires_in"))
        expires = now + lifetime if lifetime else first + TOKEN_LIFETIME
        margin = max(5.0, min(300.0, 0.1 * (expires - now)))
        self._token, self._token_expires = token, expires - margin
        self.log.debug("token_obtained", expires_in=round(expires - now))

    def _do_login(self, deadline: float | None) -> None:
        self._reload_credentials(self.login_guard)
        session, doc = self._obtain(
            "login",
            LOGIN_PATH,
            "sessionToken",
            self.login_guard,
            deadline,
            json=self._login,
            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
        )
        now = self.clock()
        lifetime = _seconds(doc.get("expiresIn"))
        self._session, self._session_used = session, now
        self._session_expires = now + lifetime - min(SESSION_MARGIN, lifetime / 10) if lifetime else float("inf")
        self.log.debug("session_started")

    def _obtain(
        self, endpoint: str, path: str, field: str, guard: CredentialGuard, deadline: float | None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        """POST for a credential; a rejection counts against `guard`. Returns it and the response."""
        guard.check()
        try:
            body = self.transport.request(endpoint, "POST", path, deadline=deadline, **kw)
        except ApiError as exc:
            if endpoint == "login" and exc.reason == "token_rejected":
                self._token = None  # a bad bearer token, not a bad password
            elif exc.status in CREDENTIAL_STATUSES:
                guard.failed(exc)
            raise
        doc = _json_object(body, endpoint)
        value = doc.get(field)
        if not isinstance(value, str) or not value:
            raise ApiError("bad_response", f"{endpoint} response without {field}", endpoint)
        redactor.add(value)
        guard.succeeded()
        return value, doc

    def _reload_credentials(self, guard: CredentialGuard) -> None:
        """Read the credentials again while one stands rejected: Kubernetes rotates mounted secret
        files in place, and new ones deserve a try without waiting out the back-off."""
        if not guard.failures or self._reload is None:
            return
        try:
            client_id, client_secret, username, password = self._reload()
        except Exception as exc:  # a file caught mid-rotation: keep what we have, try next time
            self.log.warning("credentials_reload_failed", error=str(exc))
            return
        client, login = (client_id, client_secret), {"username": username, "password": password}
        oauth = guard is self.oauth_guard
        if (client if oauth else login) == (self._client if oauth else self._login):
            return
        redactor.add(client_secret, password)
        self._client, self._login = client, login
        guard.release()
        self.log.info("credentials_changed", kind=guard.kind)


def _json_object(body: bytes, endpoint: str) -> dict[str, Any]:
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise ApiError("bad_json", "response is not JSON", endpoint) from None
    if not isinstance(doc, dict):
        raise ApiError("bad_response", "response is not a JSON object", endpoint)
    return doc


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None
