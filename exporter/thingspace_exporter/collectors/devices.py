"""The device list: every account's devices paged through and counted, in parallel segments
along the previous cycle's page boundaries once a listing has completed."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric

from ..metrics import BG
from ..thingspace.errors import ApiError
from . import device_sizing
from .base import Collector, Context, Snapshot, Tools
from .device_aggregation import AccountData
from .device_boundaries import Boundaries, Listing
from .device_listing import SEGMENT_BACKOFF, list_parallel, list_sequential, order, plan_bounds
from .device_pages import device_page

PROGRESS_EVERY = 50  # pages between progress log lines on long listings


class DevicesCollector(Collector):
    name = "devices"
    endpoints = ("devices",)
    account_series = True
    status_fields = ("devices", "pages")
    segment_backoff = SEGMENT_BACKOFF

    def __init__(self, tools: Tools) -> None:
        super().__init__(tools)
        settings = tools.settings
        self.buckets = tuple(settings.last_connection_buckets)
        self.stalest = settings.stalest_devices
        # what each account's last listing learnt; with THINGSPACE_STATE_DIR, from before a
        # restart too, so that the first listing after one is already parallel
        self.stores = (
            {a: Boundaries(settings.state_dir, a, settings.protocol) for a in settings.owned_accounts}
            if settings.state_dir
            else {}
        )
        self.listings: dict[str, Listing] = {}
        for account, store in self.stores.items():
            if (known := store.load()) is not None:
                self.listings[account] = known

    @property
    def bounds(self) -> dict[str, list[str]]:
        return {a: list(known.bounds) for a, known in self.listings.items()}

    def collect(self, account: str, deadline: float, context: Context) -> AccountData:
        client, settings, metrics = self.tools.client, self.tools.settings, self.tools.metrics
        log = self.tools.log.bind(account=account)
        started = time.monotonic()
        timing = [0.0, 0]  # request seconds, requests

        def fetch(cursor: str):
            sent = time.monotonic()
            try:
                page = device_page(client, account, cursor, deadline, settings.protocol)
                metrics.pages.labels(account).inc()
                return page
            finally:
                timing[0] += time.monotonic() - sent
                timing[1] += 1

        def progress(pages: int) -> None:
            if pages % PROGRESS_EVERY == 0:
                log.info("listing_progress", pages=pages, seconds=round(time.monotonic() - started, 1))

        seen: list[tuple[str, int]] = []
        try:
            data, bounds = self._list(account, fetch, progress, log, seen)
        except ApiError:
            # The pages seen still mark segments: the next listing walks them in parallel and only
            # the rest in turn, so an account too big for one deadline converges over cycles.
            self._learnt(account, merged_bounds(self.listings.get(account), seen), len(seen), timing, False, log)
            raise
        self._learnt(account, bounds, data.pages, timing, True, log)
        return data

    def _list(self, account: str, fetch, progress, log, seen) -> tuple[AccountData, list[str]]:
        known = self.listings.get(account)
        workers = self.tools.settings.max_concurrency
        if known and known.bounds and workers > 1:
            log.debug("listing", mode="parallel", segments=len(known.bounds) + 1, complete_before=known.complete)
            try:
                return list_parallel(
                    fetch,
                    self.buckets,
                    list(known.bounds),
                    workers,
                    self.tools.stop,
                    progress,
                    self.stalest,
                    seen,
                    log,
                    self.segment_backoff,
                )
            except ApiError as exc:
                # failed segments were retried and walked on already; only a bound the API no longer
                # knows (its device left) needs the walk from the first page
                if exc.reason != "invalid_cursor":
                    raise
                log.info("parallel_listing_fallback", error=exc.describe())
                seen.clear()
        log.debug("listing", mode="sequential")
        return list_sequential(fetch, self.buckets, progress, self.stalest, seen)

    def _learnt(self, account: str, bounds: list[str], pages: int, timing: list, complete: bool, log: Any) -> None:
        listing = Listing(tuple(bounds), pages, timing[0] / timing[1] if timing[1] else 0.0, complete)
        self.listings[account] = listing
        store = self.stores.get(account)
        if store is not None:  # a failed save is logged there; it only costs a restart its parallel start
            store.save(listing)

    def summary(self, data: AccountData) -> dict[str, Any]:
        return {"devices": data.count, "pages": data.pages, "series": len(data.devices)}

    def warnings(self) -> list[tuple[str, dict[str, Any]]]:
        fix = (
            "raise THINGSPACE_MAX_CONCURRENCY and THINGSPACE_MAX_REQUESTS_PER_SECOND, "
            "or the deadline and interval (README: Sizing)"
        )
        found = device_sizing.warnings(self.tools.settings, self.listings)
        return [("listing_cannot_keep_up", {**w, "fix": fix}) for w in found]

    @staticmethod
    def families(snaps: Sequence[Snapshot]) -> Iterator[Metric]:
        return families(snaps)


def merged_bounds(known: Listing | None, seen: list[tuple[str, int]]) -> list[str]:
    """Bounds after a listing that failed: those known before, and the ends of the pages it saw."""
    return sorted({*(known.bounds if known else ()), *plan_bounds(seen)}, key=order)


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
        "thingspace_device_software",
        f"Devices with the named software version installed. {BG}",
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
            ages.add_metric([account, make, model], list(zip(bounds, cumulative, strict=False)), total)
        for when, device_id, make, model in data.stalest:
            stalest.add_metric([account, device_id, make, model], when)
    yield from (devices, protocols, software, ages, unknown, stalest)


def _bound(value: float) -> str:
    return str(float(value))
