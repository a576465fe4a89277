"""The web side put together: the endpoints behind the web configuration's access rules, served
by the HTTP server, with the configuration reloaded while it runs (a new TLS context applies to
the connections accepted after it)."""

from __future__ import annotations

import threading
from typing import Any

from . import endpoints
from .access import Access
from .http_server import Limits, Server
from .view import View
from .webconfig import WebConfig


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
        self.access = None
        if web_config is not None and web_config_path is not None:
            self.access = Access(web_config_path, web_config, log, on_tls=self._use_tls)
        access = self.access
        app = endpoints.make_app(view, access.authorize if access else None, access.headers if access else None)
        tls = web_config.ssl_context if web_config is not None else None
        self.server = endpoints.bind(
            host, port, app, limits, tls, on_error=lambda text: log.error("http_app_error", error=text)
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

    def close(self) -> None:
        threading.Thread(target=self.server.shutdown, daemon=True).start()

    def _use_tls(self, context: Any) -> None:
        self.server.ssl_context = context


__all__ = ["Limits", "Server", "Site"]
