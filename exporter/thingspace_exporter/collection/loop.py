"""The collection loop: every interval, run every collector for every account of this shard."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..collectors import Collector, build
from ..config import Settings
from ..metrics import ExporterMetrics
from ..thingspace.client import Client
from .runner import Runner
from .snapshots import SnapshotStore

HEALTH_GRACE = 60.0


class Collection:
    def __init__(
        self,
        settings: Settings,
        client: Client,
        store: SnapshotStore,
        metrics: ExporterMetrics,
        log: Any,
        stop: threading.Event,
        collectors: list[Collector] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.log = log
        self.stop = stop
        self.accounts = settings.owned_accounts  # this replica's shard
        self.collectors = collectors if collectors is not None else build(settings, client, stop, log)
        self.runner = Runner(settings, store, metrics, log, self.collectors)
        self.metrics = metrics
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None
        self.heartbeat = time.monotonic()
        self.cycle_started: float | None = None
        self.next_cycle_at: float | None = None  # unix time the next cycle starts (status page)

    def collect_account(self, account: str) -> bool:
        return self.runner.run_account(account)

    @property
    def bounds(self) -> dict[str, list[str]]:
        """The device list's page boundaries from each account's previous listing."""
        return next((c.bounds for c in self.collectors if c.name == "devices"), {})  # type: ignore[attr-defined]

    # Cycles ----------------------------------------------------------------------------------
    def run_cycle(self) -> bool:
        """Every account at once; True when every account succeeded."""
        self.cycle_started = time.monotonic()
        self.metrics.cycles.inc()
        results: dict[str, bool] = {}
        threads = [
            threading.Thread(
                target=lambda a=a: results.__setitem__(a, self.collect_account(a)), name=f"collect-{a}", daemon=True
            )
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
            wait = max(0.0, started + self.settings.interval_seconds - time.monotonic())
            self.next_cycle_at = time.time() + wait
            self.stop.wait(wait)

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
