"""Collectors, one for each kind of data ThingSpace gives: each fetches one account's worth per
cycle and builds its metric families from the published snapshots, as node_exporter's do.

REGISTRY is the one list of them, in the order they run for an account: the device list first,
so that the firmware collector counts the devices each upgrade path applies to from its counts.
Settings, request-metric labels and rendering are derived from it.
"""

from __future__ import annotations

from .base import Collector, Context, Snapshot, Tools
from .campaigns import CampaignsCollector
from .devices import DevicesCollector
from .firmware import FirmwareCollector
from .licenses import LicensesCollector

REGISTRY: tuple[type[Collector], ...] = (
    DevicesCollector,
    FirmwareCollector,
    LicensesCollector,
    CampaignsCollector,
)
NAMES = tuple(c.name for c in REGISTRY)
BY_NAME = {c.name: c for c in REGISTRY}


def build(names: list[str], tools: Tools) -> list[Collector]:
    """The named collectors (THINGSPACE_COLLECTORS), in the order they run."""
    return [BY_NAME[name](tools) for name in names]


__all__ = ["BY_NAME", "NAMES", "REGISTRY", "Collector", "Context", "Snapshot", "Tools", "build"]
