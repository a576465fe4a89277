"""Running the collectors of an account: each one timed, its errors counted and its snapshot
published on success; a snapshot that has gone stale is dropped. A failing collector never
touches another's snapshot: a campaigns error leaves the device counts as they are."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..collectors import Collector, Context
from ..config import Settings
from ..metrics import ExporterMetrics
from ..thingspace.errors import ApiError, Stopped
from .snapshots import Snapshot, SnapshotStore

# thingspace_up and its companions predate the other collectors: they tell of the device list.
ACCOUNT_COLLECTOR = "devices"


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
    ) -> None:
        self.settings, self.store, self.metrics, self.log = settings, store, metrics, log
        self.collectors = list(collectors)
        self.outcomes: dict[tuple[str, str], Outcome] = {}  # (account, collector) -> latest

    def run_account(self, account: str) -> bool:
        """Every collector in turn; True when all succeeded. Each sees the data that those before it
        last published for the account."""
        context: Context = {}
        ok = True
        for collector in self.collectors:
            ok = self.run(collector, account, context) and ok
            published = self.store.get(collector.name, account)
            if published is not None:
                context[collector.name] = published.data
        return ok

    def run(self, collector: Collector, account: str, context: Context) -> bool:
        log = self.log.bind(account=account, collector=collector.name)
        started = time.monotonic()
        try:
            data = collector.collect(account, started + self.settings.cycle_timeout_seconds, context)
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
        now = time.time()
        self.store.publish(Snapshot(account, data, now, collector.name))
        duration = time.monotonic() - started
        m, name = self.metrics, collector.name
        m.collector_up.labels(account, name).set(1)
        m.collector_duration.labels(account, name).set(duration)
        if name == ACCOUNT_COLLECTOR:
            m.up.labels(account).set(1)
            m.last_success.labels(account).set(now)
            m.duration.labels(account).set(duration)
            m.published.labels(account).set(1)
        self.outcomes[account, name] = Outcome(True, now, duration)
        log.info(
            "collection_finished", outcome="success", **collector.summary(data), duration_seconds=round(duration, 3)
        )

    def _failed(self, collector: Collector, account: str, reason: str, error: str, started: float, log: Any) -> None:
        duration = time.monotonic() - started
        m, name = self.metrics, collector.name
        m.collector_up.labels(account, name).set(0)
        m.collector_duration.labels(account, name).set(duration)
        m.collector_errors.labels(account, name, reason).inc()
        snap = self.store.get(name, account)
        stale = snap is not None and time.time() - snap.completed_at > self.settings.stale_after_seconds
        if stale and self.store.drop(name, account):
            log.warning("snapshot_dropped", reason="stale", last_success=snap.completed_at)
        kept = self.store.get(name, account) is not None
        if name == ACCOUNT_COLLECTOR:
            m.up.labels(account).set(0)
            m.duration.labels(account).set(duration)
            m.errors.labels(account, reason).inc()
            m.published.labels(account).set(1 if kept else 0)
        self.outcomes[account, name] = Outcome(False, time.time(), duration, reason, error)
        log.error(
            "collection_finished",
            outcome="failure",
            reason=reason,
            error=error,
            duration_seconds=round(duration, 3),
            snapshot_kept=kept,
        )
