"""Who may reach the endpoints: the live web configuration (webconfig), reloaded when its files
change, checking basic auth and client certificate names, and the headers every response carries.

/-/healthy and /-/ready stay open, so that probes and the container's health check need no
credentials; they tell nothing but whether the exporter works.

A password check (bcrypt) costs tens to hundreds of milliseconds of CPU, so it never runs on the
server's workers: defer() (on the selector thread) decides at once what needs no hashing (open
paths, cached credentials, malformed ones, rate limits) and hands the rest to one checker thread
through a short queue, skipping clients that have hung up. Failed checks are limited per client
address, and a web configuration's rate_limit limits all requests but the probes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import bcrypt

from . import webconfig
from .ratelimit import Bucket, PerAddress
from .webconfig import WebConfig, WebConfigError

OPEN_PATHS = frozenset({"/-/healthy", "/-/ready"})
RELOAD_SECONDS = 5.0
CACHE_SIZE = 1024  # checked (user, password, hash) triples: a scrape costs a bcrypt check once
CHALLENGE = ("WWW-Authenticate", 'Basic realm="thingspace-exporter", charset="UTF-8"')
MAX_PASSWORD = 72  # bcrypt's limit: bcrypt 5 refuses longer ones, bcrypt 4 would ignore the rest
QUEUE_SIZE = 16  # checks waiting for the checker; beyond, 429 at once
FAILURES_BURST = 5  # failed checks per client address before 429 ...
FAILURES_INTERVAL = 2.0  # ... then one more every this many seconds
VERDICT = "thingspace.access"  # environ key: the decision taken before the app runs
CONNECTED = "thingspace.connected"  # environ key (from the server): False once the client is gone
Refusal = tuple[str, list[tuple[str, str]]]
UNAUTHORIZED: Refusal = ("401 Unauthorized", [CHALLENGE])


class _Check(NamedTuple):
    user: str
    password: bytes
    hashed: bytes | None
    key: bytes
    addr: str


def too_many(seconds: int) -> Refusal:
    return "429 Too Many Requests", [("Retry-After", str(seconds))]


class Access:
    def __init__(
        self, path: str, config: WebConfig, log: Any, on_tls: Callable[[Any], None] = lambda context: None
    ) -> None:
        self.path, self.log, self.on_tls = path, log, on_tls
        self._checked: OrderedDict[bytes, bool] = OrderedDict()
        self._lock = threading.Lock()
        self._dummies: dict[bytes, bytes] = {}
        self._seen = webconfig.fingerprint(webconfig.watched_files(path))
        self.failures = PerAddress(FAILURES_INTERVAL, FAILURES_BURST)
        self._queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self._checker: threading.Thread | None = None
        self._closed = False
        self.config = config

    @property
    def config(self) -> WebConfig:
        return self._config

    @config.setter
    def config(self, config: WebConfig) -> None:
        self._config = config
        limit = config.rate_limit
        self._limit = Bucket(*limit) if limit is not None else None

    # --- per request -----------------------------------------------------------------------
    def defer(self, environ: dict, resume: Callable[[], None]) -> bool:
        """On the selector thread, quickly: True when a password check was queued (resume() is
        called once it is done, unless the client has gone); False when the app can run now."""
        if environ.get("PATH_INFO") in OPEN_PATHS:
            return False
        if self._closed:  # shutting down: no more checks
            environ[VERDICT] = too_many(1)
            return False
        if self._limit is not None and not self._limit.take():
            environ[VERDICT] = too_many(self._limit.retry_after())
            return False
        verdict = self._verdict(environ)
        if not isinstance(verdict, _Check):
            environ[VERDICT] = verdict
            return False
        if wait := self.failures.blocked(verdict.addr):
            environ[VERDICT] = too_many(wait)
            return False
        try:
            self._queue.put_nowait((environ, resume, verdict))
        except queue.Full:
            environ[VERDICT] = too_many(1)
            return False
        if self._checker is None:
            self._checker = threading.Thread(target=self._run_checks, name="password-check", daemon=True)
            self._checker.start()
        return True

    def authorize(self, environ: dict) -> Refusal | None:
        """The decision taken by defer(), or (without it) taken now, hashing on this thread."""
        if environ.get("PATH_INFO") in OPEN_PATHS:
            return None
        if VERDICT in environ:
            return environ[VERDICT]
        if self._limit is not None and not self._limit.take():
            return too_many(self._limit.retry_after())
        verdict = self._verdict(environ)
        return self._hash(verdict) if isinstance(verdict, _Check) else verdict

    def headers(self) -> tuple[tuple[str, str], ...]:
        return self.config.headers

    def close(self, timeout: float = 1.0) -> None:
        """Drop the queued checks and wait for the one running, so that no thread is inside
        bcrypt while the interpreter finalizes."""
        self._closed = True
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        if self._checker is not None:
            self._queue.put(None)
            self._checker.join(timeout)

    def _verdict(self, environ: dict) -> Refusal | None | _Check:
        config = self.config
        if config.allowed_sans and not _client_allowed(config, environ.get("ssl.peercert")):
            return "403 Forbidden", []
        if not config.users:
            return None
        credentials = _credentials(environ.get("HTTP_AUTHORIZATION", ""))
        if credentials is None:
            return UNAUTHORIZED
        user, password = credentials
        if len(password) > MAX_PASSWORD:
            return UNAUTHORIZED
        hashed = config.users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), password, hashed or b""))).digest()
        with self._lock:
            if key in self._checked:
                self._checked.move_to_end(key)
                return None if self._checked[key] else UNAUTHORIZED
        return _Check(user, password, hashed, key, str(environ.get("REMOTE_ADDR", "")))

    def _run_checks(self) -> None:
        while (item := self._queue.get()) is not None:
            environ, resume, check = item
            connected = environ.get(CONNECTED)
            if connected is not None and not connected():
                continue  # the client hung up: nobody would read the answer
            environ[VERDICT] = self._hash(check)
            resume()

    def _hash(self, check: _Check) -> Refusal | None:
        # An unknown user costs a check at the highest configured cost, so timing does not tell
        # which users exist; checkpw compares in constant time.
        ok = bcrypt.checkpw(check.password, check.hashed or self._dummy_hash()) and check.hashed is not None
        with self._lock:
            self._checked[check.key] = ok
            while len(self._checked) > CACHE_SIZE:
                self._checked.popitem(last=False)
        if not ok:
            self.failures.failed(check.addr)
        return None if ok else UNAUTHORIZED

    def _dummy_hash(self) -> bytes:
        cost = max((h[4:6] for h in self.config.users.values()), default=b"10")
        if cost not in self._dummies:
            self._dummies[cost] = bcrypt.hashpw(b"no such user", bcrypt.gensalt(int(cost)))
        return self._dummies[cost]

    # --- reloading -------------------------------------------------------------------------
    def reload_if_changed(self) -> bool:
        """Load the files again if they changed; a bad new version is logged and the old kept."""
        seen = webconfig.fingerprint(webconfig.watched_files(self.path))
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            config = webconfig.load(self.path)
        except WebConfigError as exc:
            self.log.error("web_config_invalid", path=self.path, error=str(exc), kept="the previous version")
            return False
        self.config = config
        self.on_tls(config.ssl_context)
        self.log.info(
            "web_config_reloaded",
            path=self.path,
            tls=config.ssl_context is not None,
            basic_auth_users=len(config.users),
        )
        return True

    def watch(self, stop: threading.Event, every: float = RELOAD_SECONDS) -> threading.Thread:
        def run() -> None:
            while not stop.wait(every):
                try:
                    self.reload_if_changed()
                except Exception:  # a reload must never take the server down
                    self.log.exception("web_config_reload_crashed")

        thread = threading.Thread(target=run, name="web-config", daemon=True)
        thread.start()
        return thread


def _client_allowed(config: WebConfig, cert: Any) -> bool:
    names = {value for _, value in (cert or {}).get("subjectAltName", ())}
    return not names.isdisjoint(config.allowed_sans)


def _credentials(header: str) -> tuple[str, bytes] | None:
    """(user, password) from a Basic Authorization header; None when it is not one."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:  # non-ASCII input makes b64decode raise a plain ValueError
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, password.encode()) if sep else None
