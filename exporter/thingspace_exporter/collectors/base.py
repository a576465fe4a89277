"""The shape every collector has (node_exporter's Collector interface, in Python): a name, the API
endpoints it calls, `collect` for one account and `families` for the published snapshots."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from prometheus_client.core import Metric

from ..metrics import ExporterMetrics
from ..thingspace.client import Client

Context = Mapping[str, Any]  # what the collectors that ran before, for the same account, published


@dataclass(frozen=True)
class Snapshot:
    """What one collector returned for one account, and when it completed."""

    account: str
    data: Any
    completed_at: float  # unix time
    collector: str

    @property
    def key(self) -> tuple[str, str]:
        return self.collector, self.account


@dataclass(frozen=True)
class Tools:
    """What a collector works with; each takes what it needs."""

    client: Client
    settings: Any  # config.Settings
    stop: threading.Event
    log: Any
    metrics: ExporterMetrics


class Collector:
    name: ClassVar[str]
    endpoints: ClassVar[tuple[str, ...]]  # the API endpoints it calls, labels of the request metrics
    # The collector whose runs thingspace_up, thingspace_last_success_timestamp_seconds and the other
    # account-level series report (the README and the alerts read them as the device list's).
    account_series: ClassVar[bool] = False
    status_fields: ClassVar[tuple[str, ...]] = ()  # of its summary, shown on the status page

    def __init__(self, tools: Tools) -> None:
        self.tools = tools

    def collect(self, account: str, deadline: float, context: Context) -> Any:
        """One account's data; raise ApiError (or Stopped) to fail without publishing anything."""
        raise NotImplementedError

    @staticmethod
    def families(snapshots: Sequence[Snapshot]) -> Iterable[Metric]:
        """The metric families of these snapshots; with none, every family empty (its headers)."""
        raise NotImplementedError

    def summary(self, data: Any) -> dict[str, Any]:
        """What the `collection_finished` log line and the status page say of a success."""
        return {}

    def warnings(self) -> list[tuple[str, dict[str, Any]]]:
        """Problems worth a warning at start-up (a listing that cannot finish in time): the log
        event and its fields."""
        return []
