"""The shape every collector has (node_exporter's Collector interface, in Python)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from prometheus_client.core import Metric

from ..collection.snapshots import Snapshot

Context = dict[str, Any]  # what the collectors that ran before, for the same account, returned


class Collector(Protocol):
    name: str

    def collect(self, account: str, deadline: float, context: Context) -> Any:
        """One account's data; raise ApiError (or Stopped) to fail without publishing anything."""

    def families(self, snapshots: Sequence[Snapshot]) -> Iterable[Metric]:
        """The metric families of these snapshots; with none, every family empty (its headers)."""

    def summary(self, data: Any) -> dict[str, Any]:
        """What the `collection_finished` log line says of a success."""
