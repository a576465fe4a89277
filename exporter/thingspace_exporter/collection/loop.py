"""The collection loop: every interval, run every collector for every account of this shard."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..metrics import ExporterMetrics
from .runner import Runner

if TYPE_CHECKING:
    from ..config import Settings

HEALTH_GRACE = 60.0


class CollectionLoop:
    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        metrics: ExporterMetrics,
        log: Any,
        stop: threading.Event,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.runner, self.metrics, self.log, self.stop = settings, runner, metrics, log, stop
        self.monotonic = monotonic
        self.accounts = settings.owned_accounts  # this replica's shard
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None
        self.heartbeat = monotonic()  # the end of the latest cycle, or the start
        self.running = False  # a cycle is under way
        self.next_cycle_at: float | None = None  # unix time the next cycle starts (status page)
        self.took: dict[str, float] = {}  # account -> seconds its latest run took

    # Cycles ----------------------------------------------------------------------------------
    def run_cycle(self) -> bool:
        """Every account once, at most THINGSPACE_MAX_ACCOUNTS_IN_FLIGHT at a time; True when every
        account succeeded. The accounts that took longest last cycle start first: a huge account
        then runs beside the small ones instead of after them, stretching the cycle's tail."""
        self.running = True
        self.metrics.cycles.inc()
        results: dict[str, bool] = {}
        pending: queue.SimpleQueue[str] = queue.SimpleQueue()
        for account in sorted(self.accounts, key=lambda a: -self.took.get(a, 0.0)):
            pending.put(account)

        def work() -> None:
            while not self.stop.is_set():
                try:
                    account = pending.get_nowait()
                except queue.Empty:
                    return
                started = self.monotonic()
                results[account] = self.runner.run_account(account)
                self.took[account] = self.monotonic() - started

        workers = min(self.settings.max_accounts_in_flight, len(self.accounts))
        threads = [threading.Thread(target=work, name=f"collect-{i}", daemon=True) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.running = False
        self.heartbeat = self.monotonic()
        if not self.stop.is_set():
            self.ready.set()
        return all(results.get(a, False) for a in self.accounts)

    def run_forever(self) -> None:
        while not self.stop.is_set():
            started = self.monotonic()
            self.run_cycle()  # which also beats the heart
            wait = max(0.0, started + self.settings.interval_seconds - self.monotonic())
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

    # Health ----------------------------------------------------------------------------------
    def slack(self) -> float:
        """How far past its deadline an account may run: a request under way at the deadline
        finishes with its own timeout and retries."""
        s = self.settings
        return s.request_timeout_seconds * (s.max_retries + 1) + HEALTH_GRACE

    def healthy(self) -> tuple[bool, str]:
        """Alive and not wedged: the loop thread runs, no account has overrun its deadline (the
        one its collectors share), and between cycles the next one is not overdue."""
        if self.thread is not None and not self.thread.is_alive():
            return False, "collection loop has stopped"
        late = self.runner.overdue(self.slack())
        if late is not None:
            account, over = late
            return False, f"collection of account {account} has run {over:.0f}s past its deadline"
        idle = self.monotonic() - self.heartbeat
        if not self.running and idle > self.settings.interval_seconds + self.slack():
            return False, "collection loop has not run for too long"
        return True, "ok"
