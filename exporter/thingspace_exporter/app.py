"""Wiring: one exporter instance from settings (transport, auth, client, store, loop)."""

from __future__ import annotations

import threading

from .collection.loop import Collection
from .collection.sharding import share
from .collection.snapshots import SnapshotStore
from .collectors import FAMILIES
from .collectors import device_sizing as sizing
from .config import Settings
from .logs import get_logger
from .metrics import ExporterMetrics
from .thingspace.auth import LOGIN_FAILURES_ALLOWED, Auth, Reload
from .thingspace.client import Client
from .thingspace.login_failures import LoginFailures
from .thingspace.transport import Transport
from .web.exposition import Renderer

# Reasons a cycle or a request commonly fails for; others appear when they first happen.
REQUEST_REASONS = ("timeout", "connection", "server_error", "rate_limited")
CYCLE_REASONS = (
    *REQUEST_REASONS,
    "bad_json",
    "bad_page",
    "token_rejected",
    "session_rejected",
    "credentials_rejected",
    "auth_backoff",
    "invalid_cursor",
    "stuck_cursor",
    "empty_page",
    "missing_cursor",
    "invalid_parameter",
    "access_denied",
    "deadline",
    "internal_error",
)


ENDPOINTS = {
    "devices": ("devices",),
    "firmware": ("firmware",),
    "licenses": ("subscriptions",),
    "campaigns": ("campaigns", "campaign_devices"),
}  # the API endpoints each collector calls


class Exporter:
    def __init__(
        self,
        settings: Settings,
        metrics: ExporterMetrics | None = None,
        stop: threading.Event | None = None,
        text_only: bool = False,
        reload: Reload | None = None,
    ) -> None:
        self.settings = s = settings
        self.stop = stop or threading.Event()
        self.metrics = metrics or ExporterMetrics()
        self.log = get_logger("thingspace_exporter")
        index, count = s.shard_index or 0, s.shard_count
        # Every replica draws on one API quota and one user's lockout count: each gets its share.
        self.transport = Transport(
            s.base_url,
            self.metrics,
            self.stop,
            timeout=s.request_timeout_seconds,
            retries=s.max_retries,
            rate=s.max_requests_per_second / count,
            pool_size=s.max_concurrency * len(s.owned_accounts) + 4,
        )
        self.auth = Auth(
            self.transport,
            s.client_id,
            s.client_secret.get_secret_value(),
            s.username,
            s.password.get_secret_value(),
            self.metrics,
            self.log,
            login_budget=share(LOGIN_FAILURES_ALLOWED, index, count),
            login_store=LoginFailures(s.state_dir, s.username) if s.state_dir else None,
            reload=reload,
        )
        self.client = Client(self.transport, self.auth, self.metrics, s.protocol)
        families = {name: FAMILIES[name] for name in s.collectors}
        self.store: SnapshotStore = SnapshotStore(
            Renderer(families, text_only)
        )  # text_only: --once prints nothing else
        self.collection = Collection(s, self.client, self.store, self.metrics, self.log, self.stop)
        self._init_series()
        devices = next((c for c in self.collection.collectors if c.name == "devices"), None)
        for warning in sizing.warnings(s, getattr(devices, "listings", {})):
            self.log.warning(
                "listing_cannot_keep_up",
                **warning,
                fix="raise THINGSPACE_MAX_CONCURRENCY and THINGSPACE_MAX_REQUESTS_PER_SECOND, "
                "or the deadline and interval (README: Sizing)",
            )

    def _init_series(self) -> None:
        """Zero the common label sets, so increase() and alerts work from the first error."""
        m = self.metrics
        s = self.settings
        m.interval.set(s.interval_seconds)  # alerts measure the data's age in intervals
        m.shard.labels(str(s.shard_index or 0), str(s.shard_count)).set(1)
        m.shard_accounts.set(len(s.owned_accounts))
        for account in s.owned_accounts:
            m.up.labels(account).set(0)
            m.published.labels(account).set(0)
            m.pages.labels(account)
            for reason in CYCLE_REASONS:
                m.errors.labels(account, reason)
            for name in s.collectors:
                m.collector_up.labels(account, name).set(0)
                for reason in REQUEST_REASONS:
                    m.collector_errors.labels(account, name, reason)
        for kind in ("oauth", "login"):
            m.auth_rejections.labels(kind)
            m.auth_backoff.labels(kind).set(0)
        for endpoint in ("token", "login", *(e for name in s.collectors for e in ENDPOINTS[name])):
            m.requests.labels(endpoint)
            for reason in REQUEST_REASONS:
                m.failures.labels(endpoint, reason)

    def close(self) -> None:
        """Stop collecting and log out of the M2M session."""
        self.stop.set()
        self.auth.logout()
        self.transport.close()
