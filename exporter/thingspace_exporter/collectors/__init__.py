"""Collectors, one for each kind of data ThingSpace gives: each fetches one account's worth per
cycle and builds its metric families from the published snapshots, as node_exporter's collectors
do; running.Runner times each one, counts its errors and publishes what it returns.

For each account they run in the order of NAMES: the device list first, so that the firmware
collector counts the devices each upgrade path applies to from that listing's counts.
"""

from __future__ import annotations

import threading
from typing import Any

from ..config import COLLECTORS as NAMES
from ..config import Settings
from . import campaigns, devices, firmware, licenses
from .base import Collector, Context

CLASSES = {
    "devices": devices.DevicesCollector,
    "firmware": firmware.FirmwareCollector,
    "licenses": licenses.LicensesCollector,
    "campaigns": campaigns.CampaignsCollector,
}
# The families of every collector, by name, in order: rendering needs no client.
FAMILIES = {
    "devices": devices.families,
    "firmware": firmware.families,
    "licenses": licenses.families,
    "campaigns": campaigns.families,
}
assert tuple(CLASSES) == tuple(FAMILIES) == NAMES


def build(settings: Settings, client: Any, stop: threading.Event, log: Any) -> list[Collector]:
    """The enabled collectors (THINGSPACE_COLLECTORS), in the order they run."""
    return [CLASSES[name](client, settings, stop, log) for name in settings.collectors]


__all__ = ["Collector", "Context", "NAMES", "FAMILIES", "build"]
