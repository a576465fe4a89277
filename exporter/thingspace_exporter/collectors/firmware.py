"""Firmware available for upgrade: the upgrade paths of each make and model, and how many devices
each path applies to, counted from the device list's counts (exact, nothing kept per device)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from ..collection.snapshots import Snapshot
from ..metrics import BG
from .base import Context
from .device_aggregation import AccountData, DeviceKey, text

Path = tuple[str, str, str, str]  # make, model, firmware from, firmware to


@dataclass(frozen=True)
class FirmwareData:
    paths: tuple[Path, ...]
    # (make, model, firmware) -> devices whose firmware is the `from` of a path; None without a
    # device listing to count from
    upgradable: Mapping[tuple[str, str, str], int] | None


def upgradable(devices: Mapping[DeviceKey, int], paths: Sequence[Path]) -> dict[tuple[str, str, str], int]:
    """Devices of each make and model whose firmware some path upgrades from."""
    starts = {(make, model, start) for make, model, start, _ in paths}
    counts: Counter = Counter()
    for (make, model, firmware, *_), n in devices.items():
        if (make, model, firmware) in starts:
            counts[make, model, firmware] += n
    return dict(counts)


class FirmwareCollector:
    name = "firmware"

    def __init__(self, client: Any, settings: Any, stop: threading.Event, log: Any) -> None:
        self.client = client

    def collect(self, account: str, deadline: float, context: Context) -> FirmwareData:
        paths = tuple(
            sorted(
                {
                    (text(p.make), text(p.model), text(p.firmwareFrom), text(p.firmwareTo))
                    for p in self.client.firmware(account, deadline)
                }
            )
        )
        devices: AccountData | None = context.get("devices")
        return FirmwareData(paths, None if devices is None else upgradable(devices.devices, paths))

    def families(self, snapshots: Sequence[Snapshot]) -> Iterator[Metric]:
        return families(snapshots)

    @staticmethod
    def summary(data: FirmwareData) -> dict[str, Any]:
        return {"paths": len(data.paths), "upgradable": sum((data.upgradable or {}).values())}


def families(snaps: Sequence[Snapshot]) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "thingspace_firmware_upgrade_info",
        f"Firmware upgrade paths available for a make and model (always 1). {BG}",
        labels=["account", "make", "model", "firmware_from", "firmware_to"],
    )
    devices = GaugeMetricFamily(
        "thingspace_devices_upgradable",
        f"Devices whose firmware is the starting point of an upgrade path for their make and model. {BG}",
        labels=["account", "make", "model", "firmware"],
    )
    for snap in snaps:
        for path in snap.data.paths:
            info.add_metric([snap.account, *path], 1)
        for key, n in sorted((snap.data.upgradable or {}).items()):
            devices.add_metric([snap.account, *key], n)
    yield from (info, devices)
