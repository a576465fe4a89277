"""Who may reach the endpoints: the live web configuration (webconfig), reloaded when its files
change, checking basic auth and client certificate names, and the headers every response carries.

/-/healthy and /-/ready stay open, so that probes and the container's health check need no
credentials; they tell nothing but whether the exporter works.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import bcrypt

from . import webconfig
from .webconfig import WebConfig, WebConfigError

OPEN_PATHS = frozenset({"/-/healthy", "/-/ready"})
RELOAD_SECONDS = 5.0
CACHE_SIZE = 1024  # checked (user, password, hash) triples: a scrape costs a bcrypt check once
CHALLENGE = ("WWW-Authenticate", 'Basic realm="thingspace-exporter", charset="UTF-8"')
Refusal = tuple[str, list[tuple[str, str]]]


class Access:
    def __init__(
        self, path: str, config: WebConfig, log: Any, on_tls: Callable[[Any], None] = lambda context: None
    ) -> None:
        self.path, self.config, self.log, self.on_tls = path, config, log, on_tls
        self._checked: OrderedDict[bytes, bool] = OrderedDict()
        self._lock = threading.Lock()
        self._dummy: bytes | None = None
        self._seen = webconfig.fingerprint(webconfig.watched_files(path))

    # --- per request (on a worker thread) --------------------------------------------------
    def authorize(self, environ: dict) -> Refusal | None:
        if environ.get("PATH_INFO") in OPEN_PATHS:
            return None
        config = self.config
        if config.allowed_sans and not self._client_allowed(config, environ.get("ssl.peercert")):
            return "403 Forbidden", []
        if config.users and not self._password_ok(config.users, environ.get("HTTP_AUTHORIZATION", "")):
            return "401 Unauthorized", [CHALLENGE]
        return None

    def headers(self) -> tuple[tuple[str, str], ...]:
        return self.config.headers

    @staticmethod
    def _client_allowed(config: WebConfig, cert: Any) -> bool:
        names = {value for _, value in (cert or {}).get("subjectAltName", ())}
        return not names.isdisjoint(config.allowed_sans)

    def _password_ok(self, users: dict[str, bytes], header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        hashed = users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed or b""))).digest()
        with self._lock:
            if key in self._checked:
                self._checked.move_to_end(key)
                return self._checked[key]
        # An unknown user costs a bcrypt check too, so timing does not tell which users exist;
        # checkpw compares in constant time.
        ok = bcrypt.checkpw(password.encode(), hashed or self._dummy_hash()) and hashed is not None
        with self._lock:
            self._checked[key] = ok
            while len(self._checked) > CACHE_SIZE:
                self._checked.popitem(last=False)
        return ok

    def _dummy_hash(self) -> bytes:
        if self._dummy is None:
            self._dummy = bcrypt.hashpw(b"no such user", bcrypt.gensalt(10))
        return self._dummy

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
