"""Firmware campaigns: how many there are in each status, and for the running ones (up to
THINGSPACE_MAX_RUNNING_CAMPAIGNS per account) their devices by upgrade status."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from ..collection.snapshots import Snapshot
from ..metrics import BG
from ..thingspace.errors import ApiError, Stopped
from .base import Context
from .device_aggregation import text
from .device_listing import cursor_pages

# The SDKs' enum: one request chain each, since the endpoint wants a status. New ones may appear;
# only these can be asked for.
STATUSES = (
    "CampaignRequestPending",
    "CampaignRequestFailed",
    "CampaignRequestQueued",
    "CampaignScheduled",
    "CampaignEnded",
    "CampaignCancelled",
    "CampaignAborted",
    "CampaignFailed",
)
RUNNING = "CampaignScheduled"  # accepted, and running until its end date


@dataclass(frozen=True)
class RunningCampaign:
    id: str
    name: str
    make: str
    model: str
    firmware_from: str
    firmware_to: str
    devices: Mapping[str, int]  # upgrade status -> devices


@dataclass(frozen=True)
class CampaignData:
    by_status: Mapping[str, int]
    running: tuple[RunningCampaign, ...]
    running_skipped: int  # running campaigns beyond the limit, whose devices were not counted


class CampaignsCollector:
    name = "campaigns"

    def __init__(self, client: Any, settings: Any, stop: threading.Event, log: Any) -> None:
        self.client, self.stop = client, stop
        self.limit = settings.max_running_campaigns

    def collect(self, account: str, deadline: float, context: Context) -> CampaignData:
        by_status, running = {}, []
        for status in STATUSES:
            campaigns = [
                c
                for page in cursor_pages(
                    lambda cursor, s=status: self.client.campaign_page(account, s, cursor, deadline),
                    "campaignList",
                    "lastSeenCampaignId",
                    "campaigns",
                )
                for c in page
            ]
            by_status[status] = len(campaigns)
            if status == RUNNING:
                running = campaigns
        drilled = tuple(self._drill(account, c, deadline) for c in running[: self.limit])
        return CampaignData(by_status, drilled, max(0, len(running) - self.limit))

    def _drill(self, account: str, campaign: Any, deadline: float) -> RunningCampaign:
        ident = text(campaign.id)
        if not ident:
            raise ApiError("bad_page", "a running campaign without an id", "campaigns")
        devices: Counter = Counter()
        for page in cursor_pages(
            lambda cursor: self.client.campaign_device_page(account, ident, cursor, deadline),
            "deviceList",
            "lastSeenDeviceId",
            "campaign_devices",
        ):
            if self.stop.is_set():
                raise Stopped()
            devices.update(text(d.status) for d in page)
        return RunningCampaign(
            ident,
            text(campaign.campaignName),
            text(campaign.make),
            text(campaign.model),
            text(campaign.firmwareFrom),
            text(campaign.firmwareTo),
            dict(devices),
        )

    def families(self, snapshots: Sequence[Snapshot]) -> Iterator[Metric]:
        return families(snapshots)

    @staticmethod
    def summary(data: CampaignData) -> dict[str, Any]:
        return {"campaigns": sum(data.by_status.values()), "running": len(data.running) + data.running_skipped}


def families(snaps: Sequence[Snapshot]) -> Iterator[Metric]:
    campaigns = GaugeMetricFamily(
        "thingspace_campaigns", f"Firmware campaigns by status. {BG}", labels=["account", "status"]
    )
    devices = GaugeMetricFamily(
        "thingspace_campaign_devices",
        f"Devices of a running campaign by upgrade status. {BG}",
        labels=["account", "campaign_id", "campaign_name", "status"],
    )
    info = GaugeMetricFamily(
        "thingspace_campaign_info",
        f"What a running campaign upgrades (always 1). {BG}",
        labels=["account", "campaign_id", "campaign_name", "make", "model", "firmware_from", "firmware_to"],
    )
    skipped = GaugeMetricFamily(
        "thingspace_campaigns_running_uncounted",
        f"Running campaigns whose devices were not counted, beyond THINGSPACE_MAX_RUNNING_CAMPAIGNS. {BG}",
        labels=["account"],
    )
    for snap in snaps:
        data, account = snap.data, snap.account
        for status, n in sorted(data.by_status.items()):
            campaigns.add_metric([account, status], n)
        for c in data.running:
            info.add_metric([account, c.id, c.name, c.make, c.model, c.firmware_from, c.firmware_to], 1)
            for status, n in sorted(c.devices.items()):
                devices.add_metric([account, c.id, c.name, status], n)
        skipped.add_metric([account], data.running_skipped)
    yield from (campaigns, devices, info, skipped)
