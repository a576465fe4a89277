"""The device list: every account's devices paged through and counted, in parallel segments
along the previous cycle's page boundaries once a listing has completed."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, Sequence

from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric

from ..aggregation import AccountData
from ..errors import ApiError
from ..metrics import BG
from ..paging import list_parallel, list_sequential
from ..snapshot import Snapshot
from .base import Context

PROGRESS_EVERY = 50  # pages between progress log lines on long listings


class DevicesCollector:
    name = "devices"

    def __init__(self, client: Any, settings: Any, stop: threading.Event, log: Any) -> None:
        self.client, self.settings, self.stop, self.log = client, settings, stop, log
        self.buckets = tuple(settings.last_connection_buckets)
        self.stalest = settings.stalest_devices
        self.bounds: dict[str, list[str]] = {}  # previous listing's page boundaries, for parallel paging

    def collect(self, account: str, deadline: float, context: Context) -> AccountData:
        log = self.log.bind(account=account)
        started = time.monotonic()

        def fetch(cursor: str):
            return self.client.device_page(account, cursor, deadline)

        def progress(pages: int) -> None:
            if pages % PROGRESS_EVERY == 0:
                log.info("listing_progress", pages=pages, seconds=round(time.monotonic() - started, 1))

        data, bounds = self._list(account, fetch, progress, log)
        self.bounds[account] = bounds
        return data

    def _list(self, account: str, fetch, progress, log) -> tuple[AccountData, list[str]]:
        bounds = self.bounds.get(account)
        workers = self.settings.max_concurrency
        if bounds and workers > 1:
            try:
                return list_parallel(fetch, self.buckets, bounds, workers, self.stop, progress, self.stalest)
            except ApiError as exc:
                if exc.reason == "deadline":
                    raise
                log.info("parallel_listing_fallback", error=exc.describe())
        return list_sequential(fetch, self.buckets, progress, self.stalest)

    def families(self, snapshots: Sequence[Snapshot]) -> Iterator[Metric]:
        return families(snapshots)

    @staticmethod
    def summary(data: AccountData) -> dict[str, Any]:
        return {"devices": data.count, "pages": data.pages, "series": len(data.devices)}


def families(snaps: Sequence[Snapshot]) -> Iterator[Metric]:
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
    stalest = GaugeMetricFamily(
        "thingspace_device_last_connection_timestamp_seconds",
        f"Last connection of the devices whose last connection is the oldest known, as many per "
        f"account as THINGSPACE_STALEST_DEVICES. {BG}",
        labels=["account", "device_id", "make", "model"],
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
        for when, device_id, make, model in data.stalest:
            stalest.add_metric([account, device_id, make, model], when)
    yield from (devices, protocols, software, ages, unknown, stalest)


def _bound(value: float) -> str:
    return str(float(value))
