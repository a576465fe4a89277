"""Wiring: one exporter instance from settings (transport, auth, client, store, loop)."""

from __future__ import annotations

import threading

from .auth import Auth
from .client import Client
from .config import Settings
from .exposition import render
from .logs import get_logger, redactor
from .loop import Collection
from .metrics import ExporterMetrics
from .snapshot import SnapshotStore
from .transport import Transport


class Exporter:
    def __init__(self, settings: Settings, metrics: ExporterMetrics | None = None,
                 stop: threading.Event | None = None) -> None:
        self.settings = s = settings
        self.stop = stop or threading.Event()
        self.metrics = metrics or ExporterMetrics()
        self.log = get_logger("thingspace_exporter")
        redactor.add(*s.secrets())
        self.transport = Transport(
            s.base_url, self.metrics, self.stop, timeout=s.request_timeout_seconds, retries=s.max_retries,
            rate=s.max_requests_per_second, pool_size=s.max_concurrency * len(s.accounts) + 4,
        )
        self.auth = Auth(self.transport, s.client_id, s.client_secret.get_secret_value(), s.username,
                         s.password.get_secret_value(), self.metrics, self.log)
        self.client = Client(self.transport, self.auth, self.metrics, s.protocol)
        self.store: SnapshotStore = SnapshotStore(render)
        self.collection = Collection(s, self.client, self.store, self.metrics, self.log, self.stop)
        for account in s.accounts:
            self.metrics.up.labels(account).set(0)
            self.metrics.published.labels(account).set(0)

    def close(self) -> None:
        """Stop collecting and log out of the M2M session."""
        self.stop.set()
        self.auth.logout()
        self.transport.close()
