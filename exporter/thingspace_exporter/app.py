"""The composition root: one exporter built from settings (transport, auth, client, collectors,
snapshots, the collection loop) and, for the server, the web side over a read-only view of it."""

from __future__ import annotations

import gc
import signal
import sys
import threading
import time
from collections.abc import Callable

from . import __version__
from .collection.loop import CollectionLoop
from .collection.rendering import Renderer
from .collection.runner import Runner
from .collection.sharding import share
from .collection.snapshots import SnapshotStore
from .collectors import Tools, build
from .config import ConfigError, Settings, env_name
from .logs import get_logger
from .metrics import ExporterMetrics
from .thingspace.auth import LOGIN_FAILURES_ALLOWED, Auth, Reload
from .thingspace.client import Client
from .thingspace.login_failures import LoginFailures
from .thingspace.transport import Transport
from .view import ExporterView
from .web.exposition import body
from .web.site import Limits, Site

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


class Exporter:
    def __init__(
        self,
        settings: Settings,
        metrics: ExporterMetrics | None = None,
        stop: threading.Event | None = None,
        text_only: bool = False,
        reload: Reload | None = None,
        client: Client | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """`client`, `monotonic` and `wall` replace the real ones in tests."""
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
        self.client = client or Client(self.transport, self.auth, self.metrics)
        self.collectors = build(s.collectors, Tools(self.client, s, self.stop, self.log, self.metrics))
        families = {c.name: c.families for c in self.collectors}
        # text_only: --once prints nothing else
        self.store: SnapshotStore = SnapshotStore(Renderer(families, text_only))
        self.runner = Runner(s, self.store, self.metrics, self.log, self.collectors, monotonic, wall)
        self.collection = CollectionLoop(s, self.runner, self.metrics, self.log, self.stop, monotonic)
        self.view = ExporterView(self)
        self._init_series()
        for collector in self.collectors:
            for event, fields in collector.warnings():
                self.log.warning(event, **fields)

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
            for c in self.collectors:
                m.collector_up.labels(account, c.name).set(0)
                for reason in REQUEST_REASONS:
                    m.collector_errors.labels(account, c.name, reason)
        for kind in ("oauth", "login"):
            m.auth_rejections.labels(kind)
            m.auth_backoff.labels(kind).set(0)
        for endpoint in ("token", "login", *(e for c in self.collectors for e in c.endpoints)):
            m.requests.labels(endpoint)
            for reason in REQUEST_REASONS:
                m.failures.labels(endpoint, reason)

    def site(self) -> Site:
        """The web side over this exporter's view, bound (OSError if the address is taken)."""
        s = self.settings
        host, port = s.listen
        limits = Limits(
            header_timeout=s.header_timeout_seconds,
            idle_timeout=s.idle_timeout_seconds,
            max_connections=s.max_connections,
        )
        return Site(self.view, host, port, limits, self.log, s.web_config, s.web_config_file)

    def close(self) -> None:
        """Stop collecting and log out of the M2M session."""
        self.stop.set()
        self.auth.logout()
        self.transport.close()


# --- what the command line runs ---------------------------------------------------------------

PROG = "thingspace-exporter"
# Young-generation collections every 50 000 allocations instead of 700: a listing allocates
# tuples by the million and frees them by reference count, so frequent passes find nothing.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Start-up objects (modules, pydantic's schemas) live as long as the process: frozen, the
    collector stops re-scanning them, which was 5 % of a --once run's CPU."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    gc.enable()  # __main__ turns it off for the start-up


def run_once(settings: Settings, reload: Reload | None = None) -> int:
    """Collect every account once and print the metrics; 1 if any collector failed."""
    exporter = Exporter(settings, text_only=True, reload=reload)
    tune_gc()
    try:
        ok = exporter.collection.run_cycle()
        sys.stdout.buffer.write(body(exporter.store.derived, exporter.metrics.registry)[0])
        sys.stdout.flush()
    finally:
        exporter.close()
    return 0 if ok else 1


def run_server(settings: Settings, reload: Reload | None = None, demo: str | None = None) -> int:
    """Serve until SIGTERM or SIGINT; 2 if the address cannot be listened on."""
    exporter = Exporter(settings, reload=reload)
    log = exporter.log
    tune_gc()
    raise_open_files_limit(settings.max_connections + 256)
    try:
        site = exporter.site()
    except OSError as exc:
        print(
            f"{PROG}: invalid configuration: THINGSPACE_LISTEN_ADDRESS: cannot listen on "
            f"{settings.listen_address}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    stop = exporter.stop
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    site.start(stop)
    host = settings.listen[0]
    log.info(
        "started",
        version=__version__,
        listen=f"{host or '0.0.0.0'}:{site.port}",
        tls=site.tls,
        basic_auth=bool(settings.web_config and settings.web_config.users),
        accounts=len(settings.owned_accounts),
        shard=settings.shard_index,
        shards=settings.shard_count,
        interval_seconds=settings.interval_seconds,
        base_url=settings.base_url,
    )
    if demo is not None:
        print(
            f"demo: metrics at http://127.0.0.1:{site.port}/metrics ({demo}); Ctrl-C stops", file=sys.stderr, flush=True
        )
    exporter.collection.start()
    while not stop.wait(0.5):
        pass
    log.info("stopping")
    site.close()
    exporter.close()
    log.info("stopped")
    return 0


def raise_open_files_limit(wanted: int) -> None:
    """Each connection is a descriptor: raise the soft limit towards the hard one, as Go programs
    do. Beyond what is allowed the server closes the longest-waiting idle connections instead."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def reset_login_failures(settings: Settings) -> int:
    if settings.state_dir is None:
        raise ConfigError(f"{env_name('state_dir')}: required by --reset-login-failures")
    store = LoginFailures(settings.state_dir, settings.username)
    failures, _ = store.load()
    store.reset()
    print(f"{PROG}: forgot {failures} rejected logins of {settings.username}", file=sys.stderr)
    return 0
