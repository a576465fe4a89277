"""Firmware available for upgrade: the upgrade paths of each make and model, and how many devices
each path applies to, counted from the device list's counts (exact, nothing kept per device)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from prometheus_client.core import GaugeMetricFamily, Metric

from ..metrics import BG
from ..thingspace.client import segment
from ..thingspace.decoding import Scalar
from .base import Collector, Context, Snapshot
from .device_aggregation import AccountData, DeviceKey, label
from .devices import DevicesCollector

PATH = "/api/fota/v3/firmware/{account}"


class FirmwarePath(msgspec.Struct, gc=False):
    firmwareName: Scalar = None
    firmwareFrom: Scalar = None
    firmwareTo: Scalar = None
    make: Scalar = None
    model: Scalar = None


DECODER = msgspec.json.Decoder(list[FirmwarePath] | None)

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


class FirmwareCollector(Collector):
    name = "firmware"
    endpoints = ("firmware",)

    def collect(self, account: str, deadline: float, context: Context) -> FirmwareData:
        protocol = self.tools.settings.protocol
        params = {"protocol": protocol} if protocol else {}
        found = self.tools.client.fetch_json(
            "firmware", PATH.format(account=segment(account)), params, deadline, DECODER
        )
        # interned, as the device listing's labels: every account lists the same makes and firmware
        paths = tuple(
            sorted({(label(p.make), label(p.model), label(p.firmwareFrom), label(p.firmwareTo)) for p in found or ()})
        )
        devices: AccountData | None = context.get(DevicesCollector.name)
        return FirmwareData(paths, None if devices is None else upgradable(devices.devices, paths))

    def summary(self, data: FirmwareData) -> dict[str, Any]:
        return {"paths": len(data.paths), "upgradable": sum((data.upgradable or {}).values())}

    @staticmethod
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
