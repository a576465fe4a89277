"""The collection loop: every interval, list every account and publish complete snapshots."""

from __future__ import annotations

import threading
import time
from typing import Any

from .aggregation import AccountData
from .client import Client
from .config import Settings
from .errors import ApiError, Stopped
from .metrics import ExporterMetrics
from .paging import list_parallel, list_sequential
from .snapshot import AccountSnapshot, SnapshotStore

PROGRESS_EVERY = 50  # pages between progress log lines on long listings
HEALTH_GRACE = 60.0


class Collection:
    def __init__(self, settings: Settings, client: Client, store: SnapshotStore, metrics: ExporterMetrics,
                 log: Any, stop: threading.Event) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.metrics = metrics
        self.log = log
        self.stop = stop
        self.accounts = settings.owned_accounts  # this replica's shard
        self.buckets = tuple(settings.last_connection_buckets)
        self.bounds: dict[str, list[str]] = {}  # previous cycle's page boundaries, for parallel paging
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None
        self.heartbeat = time.monotonic()
        self.cycle_started: float | None = None

    # One account -----------------------------------------------------------------------------
    def collect_account(self, account: str) -> bool:
        log = self.log.bind(account=account)
        started = time.monotonic()
        deadline = started + self.settings.cycle_timeout_seconds

        def fetch(cursor: str):
            return self.client.device_page(account, cursor, deadline)

        def progress(pages: int) -> None:
            if pages % PROGRESS_EVERY == 0:
                log.info("listing_progress", pages=pages, seconds=round(time.monotonic() - started, 1))

        try:
            data, bounds = self._list(account, fetch, progress, log)
            self._succeeded(account, data, started, log)
        except Stopped:
            return False
        except ApiError as exc:
            self._failed(account, exc.reason, exc.describe(), started, log)
            return False
        except Exception as exc:  # a bug must not kill the loop; count it and go on
            log.exception("collection_crashed")
            self._failed(account, "internal_error", type(exc).__name__, started, log)
            return False
        self.bounds[account] = bounds
        return True

    def _list(self, account: str, fetch, progress, log) -> tuple[AccountData, list[str]]:
        bounds = self.bounds.get(account)
        workers = self.settings.max_concurrency
        if bounds and workers > 1:
            try:
                return list_parallel(fetch, self.buckets, bounds, workers, self.stop, progress)
            except ApiError as exc:
                if exc.reason == "deadline":
                    raise
                log.info("parallel_listing_fallback", error=exc.describe())
        return list_sequential(fetch, self.buckets, progress)

    def _succeeded(self, account: str, data: AccountData, started: float, log: Any) -> None:
        now = time.time()
        self.store.publish(AccountSnapshot(account, data, now))
        duration = time.monotonic() - started
        self.metrics.up.labels(account).set(1)
        self.metrics.last_success.labels(account).set(now)
        self.metrics.duration.labels(account).set(duration)
        self.metrics.published.labels(account).set(1)
        log.info("collection_finished", outcome="success", devices=data.count, pages=data.pages,
                 series=len(data.devices), duration_seconds=round(duration, 3))

    def _failed(self, account: str, reason: str, error: str, started: float, log: Any) -> None:
        duration = time.monotonic() - started
        self.metrics.up.labels(account).set(0)
        self.metrics.duration.labels(account).set(duration)
        self.metrics.errors.labels(account, reason).inc()
        snap = self.store.snapshots.get(account)
        stale = snap is not None and time.time() - snap.completed_at > self.settings.stale_after_seconds
        if stale and self.store.drop(account):
            log.warning("snapshot_dropped", reason="stale", last_success=snap.completed_at)
        self.metrics.published.labels(account).set(1 if account in self.store.snapshots else 0)
        log.error("collection_finished", outcome="failure", reason=reason, error=error,
                  duration_seconds=round(duration, 3), snapshot_kept=account in self.store.snapshots)

    # Cycles ----------------------------------------------------------------------------------
    def run_cycle(self) -> bool:
        """Every account at once; True when every account succeeded."""
        self.cycle_started = time.monotonic()
        self.metrics.cycles.inc()
        results: dict[str, bool] = {}
        threads = [
            threading.Thread(target=lambda a=a: results.__setitem__(a, self.collect_account(a)),
                             name=f"collect-{a}", daemon=True)
            for a in self.accounts
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.cycle_started = None
        self.heartbeat = time.monotonic()
        if not self.stop.is_set():
            self.ready.set()
        return all(results.get(a, False) for a in self.accounts)

    def run_forever(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            self.run_cycle()  # which also beats the heart
            self.stop.wait(max(0.0, started + self.settings.interval_seconds - time.monotonic()))

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run_guarded, name="collection", daemon=True)
        self.thread.start()

    def _run_guarded(self) -> None:
        try:
            self.run_forever()
        except Exception:
            self.log.exception("collection_loop_died")

    def healthy(self) -> tuple[bool, str]:
        """Alive and not wedged: the loop thread runs and no cycle has overrun its deadline."""
        if self.thread is not None and not self.thread.is_alive():
            return False, "collection loop has stopped"
        now = time.monotonic()
        s = self.settings
        limit = s.cycle_timeout_seconds + s.request_timeout_seconds * (s.max_retries + 1) + HEALTH_GRACE
        started = self.cycle_started
        if started is not None and now - started > limit:
            return False, f"collection cycle running for {now - started:.0f}s, past its deadline"
        if started is None and now - self.heartbeat > s.interval_seconds + limit:
            return False, "collection loop has not run for too long"
        return True, "ok"
