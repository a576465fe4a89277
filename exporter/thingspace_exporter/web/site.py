"""The web side put together: the endpoints behind the web configuration's access rules, served
by the HTTP server, with the configuration reloaded while it runs (a new TLS context applies to
the connections accepted after it)."""

from __future__ import annotations

import threading
import time
from typing import Any

from . import endpoints
from .access import Access
from .http_server import Limits, Server
from .view import View
from .webconfig import WebConfig

CLOSE_SECONDS = 1.5


class Site:
    def __init__(
        self,
        view: View,
        host: str,
        port: int,
        limits: Limits,
        log: Any,
        web_config: WebConfig | None = None,
        web_config_path: str | None = None,
    ) -> None:
        """Binds now, so that a port in use fails at start-up (OSError); serves from start()."""
        self.access: Access | None = None
        if web_config is not None and web_config_path is not None:
            self.access = Access(web_config_path, web_config, log, on_tls=self._use_tls)
        access = self.access
        if access is None:
            app, defer = endpoints.make_app(view), None
        else:
            app, defer = endpoints.make_app(view, access.authorize, access.headers), access.defer
        tls = web_config.ssl_context if web_config is not None else None
        self.server = endpoints.bind(
            host,
            port,
            app,
            limits,
            tls,
            on_error=lambda text: log.error("http_app_error", error=text),
            defer=defer,
        )

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def tls(self) -> bool:
        return self.server.ssl_context is not None

    def start(self, stop: threading.Event) -> None:
        endpoints.serve(self.server)
        if self.access is not None:
            self.access.watch(stop)

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Stop serving, and wait (a bounded time) for the workers and the password checker, so
        that none runs while the interpreter finalizes (a thread in bcrypt then aborts it)."""
        deadline = time.monotonic() + timeout
        self.server.shutdown(timeout)
        if self.access is not None:
            self.access.close(max(0.1, deadline - time.monotonic()))

    def _use_tls(self, context: Any) -> None:
        self.server.ssl_context = context


__all__ = ["Limits", "Server", "Site"]
