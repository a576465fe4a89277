"""Running the collectors of an account: each one timed, its errors counted and its snapshot
published on success. A failing collector never touches another's snapshot: a campaigns error
leaves the device counts as they are.

An account has one deadline per cycle (THINGSPACE_CYCLE_TIMEOUT_SECONDS from its start), which its
collectors share in turn; the health check reads the same deadlines. A snapshot is dropped only
after THINGSPACE_STALE_AFTER_CYCLES failed runs in a row, and no sooner than
THINGSPACE_STALE_AFTER_SECONDS after its success, so a cycle longer than the interval never
blanks a series by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..collectors import Collector, Context, Snapshot
from ..metrics import ExporterMetrics
from ..thingspace.errors import ApiError, Stopped
from .snapshots import SnapshotStore

if TYPE_CHECKING:
    from ..config import Settings


@dataclass(frozen=True)
class Outcome:
    """How a collector's latest run for an account went (for the status page)."""

    ok: bool
    finished_at: float  # unix time
    duration: float
    reason: str = ""
    error: str = ""


class Runner:
    def __init__(
        self,
        settings: Settings,
        store: SnapshotStore,
        metrics: ExporterMetrics,
        log: Any,
        collectors: Sequence[Collector],
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.store, self.metrics, self.log = settings, store, metrics, log
        self.collectors = list(collectors)
        self.monotonic, self.wall = monotonic, wall
        self.outcomes: dict[tuple[str, str], Outcome] = {}  # (account, collector) -> latest
        self.failures: dict[tuple[str, str], int] = {}  # (collector, account) -> failed runs in a row
        self._deadlines: dict[str, float] = {}  # account -> monotonic deadline, while it runs
        self._lock = threading.Lock()

    def run_account(self, account: str) -> bool:
        """Every collector in turn, within the account's one deadline; True when all succeeded.
        Each sees the data that those before it last published for the account."""
        deadline = self.monotonic() + self.settings.cycle_timeout_seconds
        with self._lock:
            self._deadlines[account] = deadline
        context: dict[str, Any] = {}
        ok = True
        try:
            for collector in self.collectors:
                ok = self.run(collector, account, deadline, context) and ok
                published = self.store.get(collector.name, account)
                if published is not None:
                    context[collector.name] = published.data
        finally:
            with self._lock:
                del self._deadlines[account]
        return ok

    def overdue(self, slack: float) -> tuple[str, float] | None:
        """The account furthest past its deadline plus `slack`, and for how long it has run over
        its deadline; None when every running account is within."""
        now = self.monotonic()
        with self._lock:
            late = [(now - deadline, account) for account, deadline in self._deadlines.items()]
        worst = max(late, default=None)
        return (worst[1], worst[0]) if worst is not None and worst[0] > slack else None

    def run(self, collector: Collector, account: str, deadline: float, context: Context) -> bool:
        log = self.log.bind(account=account, collector=collector.name)
        started = self.monotonic()
        try:
            if started >= deadline:  # the collectors before it used the account's whole deadline
                raise ApiError("deadline", "the account's deadline passed before this collector's turn")
            data = collector.collect(account, deadline, context)
        except Stopped:
            return False
        except ApiError as exc:
            self._failed(collector, account, exc.reason, exc.describe(), started, log)
            return False
        except Exception as exc:  # a bug must not kill the loop; count it and go on
            log.exception("collection_crashed")
            self._failed(collector, account, "internal_error", type(exc).__name__, started, log)
            return False
        self._succeeded(collector, account, data, started, log)
        return True

    def _succeeded(self, collector: Collector, account: str, data: Any, started: float, log: Any) -> None:
        now = self.wall()
        self.store.publish(Snapshot(account, data, now, collector.name))
        self.failures.pop((collector.name, account), None)
        duration = self.monotonic() - started
        m, name = self.metrics, collector.name
        m.collector_up.labels(account, name).set(1)
        m.collector_duration.labels(account, name).set(duration)
        if collector.account_series:
            m.up.labels(account).set(1)
            m.last_success.labels(account).set(now)
            m.duration.labels(account).set(duration)
            m.published.labels(account).set(1)
        self.outcomes[account, name] = Outcome(True, now, duration)
        log.info(
            "collection_finished",
            outcome="success",
            **collector.summary(data),
            duration_seconds=round(duration, 3),
        )

    def _failed(self, collector: Collector, account: str, reason: str, error: str, started: float, log: Any) -> None:
        duration = self.monotonic() - started
        m, name = self.metrics, collector.name
        m.collector_up.labels(account, name).set(0)
        m.collector_duration.labels(account, name).set(duration)
        m.collector_errors.labels(account, name, reason).inc()
        failed = self.failures[name, account] = self.failures.get((name, account), 0) + 1
        snap = self.store.get(name, account)
        if snap is not None and self._stale(snap, failed) and self.store.drop(name, account):
            log.warning("snapshot_dropped", reason="stale", last_success=snap.completed_at, failed_cycles=failed)
        kept = self.store.get(name, account) is not None
        if collector.account_series:
            m.up.labels(account).set(0)
            m.duration.labels(account).set(duration)
            m.errors.labels(account, reason).inc()
            m.published.labels(account).set(1 if kept else 0)
        self.outcomes[account, name] = Outcome(False, self.wall(), duration, reason, error)
        log.error(
            "collection_finished",
            outcome="failure",
            reason=reason,
            error=error,
            duration_seconds=round(duration, 3),
            snapshot_kept=kept,
        )

    def _stale(self, snap: Snapshot, failed: int) -> bool:
        s = self.settings
        return failed >= s.stale_after_cycles and self.wall() - snap.completed_at > (s.stale_after_seconds or 0.0)
