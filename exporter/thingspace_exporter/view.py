"""The read-only view of the collection that the web side gets (web.view.View): the rendered
exposition, the live metrics, health, readiness and the status page's numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from .collection.rendering import Rendered
from .web.view import AccountStatus, CollectorState, Status

if TYPE_CHECKING:
    from .app import Exporter


class ExporterView:
    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter
        self.registry: CollectorRegistry = exporter.metrics.registry

    def exposition(self) -> Rendered:
        return self._exporter.store.derived

    def healthy(self) -> tuple[bool, str]:
        return self._exporter.collection.healthy()

    def ready(self) -> bool:
        return self._exporter.collection.ready.is_set()

    def status(self) -> Status:
        e = self._exporter
        s, loop, outcomes = e.settings, e.collection, e.runner.outcomes
        main = next((c for c in e.collectors if c.account_series), None)
        rows = []
        for account in loop.accounts:
            states = []
            for c in e.collectors:
                o = outcomes.get((account, c.name))
                states.append(
                    CollectorState(c.name, None)
                    if o is None
                    else CollectorState(c.name, o.ok, o.reason, o.error, o.finished_at)
                )
            outcome = outcomes.get((account, main.name)) if main else None
            snap = e.store.get(main.name, account) if main else None
            rows.append(
                AccountStatus(
                    account,
                    outcome.ok if outcome else None,
                    main.summary(snap.data) if main and snap else {},
                    outcome.duration if outcome else None,
                    snap.completed_at if snap else None,
                    tuple(states),
                )
            )
        return Status(
            s.interval_seconds,
            tuple(c.name for c in e.collectors),
            main.status_fields if main else (),
            tuple(rows),
            loop.running,
            loop.next_cycle_at,
            s.shard_index or 0,
            s.shard_count,
        )
