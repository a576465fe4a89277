"""The collection loop: every account of this shard, each every interval, through a bounded pool."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..metrics import ExporterMetrics
from .runner import Runner
from .schedule import Schedule

if TYPE_CHECKING:
    from ..config import Settings

HEALTH_GRACE = 60.0
WAKE_AT_LEAST = 0.5  # seconds an idle worker sleeps at most: it sees a stop within that


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
        self.heartbeat = monotonic()  # the end of the latest account's run, or the start
        self.in_flight = 0  # accounts being collected
        self.next_cycle_at: float | None = None  # unix time the next account is due (status page)
        self.took: dict[str, float] = {}  # account -> seconds its latest run took
        self.workers: list[threading.Thread] = []
        self.rounds = 0  # rounds of run_forever counted in thingspace_collection_cycles_total
        self._changed = threading.Condition()  # the schedule changed: an account was taken or is back

    # Cycles ----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """An account is being collected."""
        return self.in_flight > 0

    def run_cycle(self) -> bool:
        """Every account once (--once), at most THINGSPACE_MAX_ACCOUNTS_IN_FLIGHT at a time; True
        when every account succeeded. The accounts that took longest last time start first: a huge
        account then runs beside the small ones instead of after them, stretching the tail."""
        results: dict[str, bool] = {}
        self.metrics.cycles.inc()
        self._pool(Schedule(self.accounts, math.inf, self.monotonic(), self.took), results, once=True)
        return all(results.get(a, False) for a in self.accounts)

    def run_forever(self) -> None:
        """Every account on its own interval (collection.schedule): a huge account's listing
        holds back no other account's next run."""
        schedule = Schedule(self.accounts, self.settings.interval_seconds, self.monotonic(), self.took)
        self._pool(schedule, {}, once=False)

    def _pool(self, schedule: Schedule, results: dict[str, bool], once: bool) -> None:
        workers = min(self.settings.max_accounts_in_flight, len(self.accounts))
        threads = [
            threading.Thread(
                target=self._guarded,
                args=("collection_worker_died", self._work, schedule, results, once),
                name=f"collect-{i}",
                daemon=True,
            )
            for i in range(workers)
        ]
        for t in threads:
            t.start()
        self.workers = threads  # started: the health check reads them
        for t in threads:
            t.join()

    def _guarded(self, event: str, run: Callable[..., None], *args: Any) -> None:
        """A bug must not end a thread unlogged; the health check reports the thread gone."""
        try:
            run(*args)
        except Exception:
            self.log.exception(event)

    def _work(self, schedule: Schedule, results: dict[str, bool], once: bool) -> None:
        """Take the account due earliest, collect it, put it back on the schedule; in a single
        round (`once`), end when none is left."""
        while not self.stop.is_set():
            with self._changed:
                now = self.monotonic()
                account = schedule.take(now)
                if account is None:
                    if once:
                        return
                    due = schedule.next_due()
                    wait = WAKE_AT_LEAST if due is None else due - now
                    self._changed.wait(min(max(wait, 0.0), WAKE_AT_LEAST))
                    continue
                if not once and schedule.round > self.rounds:
                    self.rounds = schedule.round
                    self.metrics.cycles.inc()
                self.in_flight += 1
            started = self.monotonic()
            try:
                results[account] = self.runner.run_account(account)
            finally:
                finished = self.monotonic()
                with self._changed:
                    self.in_flight -= 1
                    self.took[account] = finished - started
                    schedule.done(account, started, finished)
                    self.heartbeat = finished
                    if not once:
                        due = schedule.next_due()
                        self.next_cycle_at = None if due is None else time.time() + max(0.0, due - finished)
                    if not schedule.unfinished and not self.stop.is_set():
                        self.ready.set()
                    self._changed.notify_all()

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._guarded, args=("collection_loop_died", self.run_forever), name="collection", daemon=True
        )
        self.thread.start()

    # Health ----------------------------------------------------------------------------------
    def slack(self) -> float:
        """How far past its deadline an account may run: a request under way at the deadline
        finishes with its own timeout and retries."""
        s = self.settings
        return s.request_timeout_seconds * (s.max_retries + 1) + HEALTH_GRACE

    def healthy(self) -> tuple[bool, str]:
        """Alive and not wedged: the loop thread runs, no account has overrun its deadline (the
        one its collectors share), and while none runs the next one is not overdue."""
        if self.thread is not None and not all(t.is_alive() for t in (self.thread, *self.workers)):
            return False, "collection loop has stopped"
        late = self.runner.overdue(self.slack())
        if late is not None:
            account, over = late
            return False, f"collection of account {account} has run {over:.0f}s past its deadline"
        idle = self.monotonic() - self.heartbeat
        if not self.running and idle > self.settings.interval_seconds + self.slack():
            return False, "collection loop has not run for too long"
        return True, "ok"
