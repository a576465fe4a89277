"""Metric families built fresh from the published snapshots."""

from __future__ import annotations

from typing import Iterator, Mapping

from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .metrics import BG
from .snapshot import AccountSnapshot


class DeviceCollector(Collector):
    def __init__(self, snapshots: Mapping[str, AccountSnapshot]) -> None:
        self.snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        snaps = [self.snapshots[a] for a in sorted(self.snapshots)]
        devices = GaugeMetricFamily(
            "thingspace_devices",
            f"Devices by make, model, firmware, status, FOTA eligibility and licence. {BG}",
            labels=["account", "make", "model", "firmware", "status", "fota_eligible", "license_assigned"],
        )
        protocols = GaugeMetricFamily(
            "thingspace_devices_by_protocol",
            f"Devices by management protocol; a device with several counts once for each. {BG}",
            labels=["account", "protocol"],
        )
        software = GaugeMetricFamily(
            "thingspace_device_software", f"Devices with the named software version installed. {BG}",
            labels=["account", "name", "version"],
        )
        unknown = GaugeMetricFamily(
            "thingspace_devices_last_connection_unknown",
            f"Devices whose last connection time is unknown (N/A, empty or zero). {BG}",
            labels=["account", "make", "model"],
        )
        ages = GaugeHistogramMetricFamily(
            "thingspace_device_last_connection_age_seconds",
            f"Devices whose last connection was at most le seconds before their page was fetched. {BG}",
            labels=["account", "make", "model"],
        )
        for snap in snaps:
            data, account = snap.data, snap.account
            for key, n in sorted(data.devices.items()):
                devices.add_metric([account, *key], n)
            for proto, n in sorted(data.protocols.items()):
                protocols.add_metric([account, proto], n)
            for (name, version), n in sorted(data.software.items()):
                software.add_metric([account, name, version], n)
            for (make, model), n in sorted(data.unknown.items()):
                unknown.add_metric([account, make, model], n)
            bounds = [*(_bound(b) for b in data.buckets), "+Inf"]
            for (make, model), (cumulative, total) in sorted(data.ages.items()):
                ages.add_metric([account, make, model], list(zip(bounds, cumulative)), total)
        yield from (devices, protocols, software, ages, unknown)


def _bound(value: float) -> str:
    return str(float(value))
